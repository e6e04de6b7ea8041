// Command ledgercheck checks the approval ledger's evidence with code we did not write: Go's
// golang.org/x/mod/sumdb/note opens the checkpoints with the log's verifier keys alone (the
// witnesses' cosignature lines are signatures of keys it does not know, which C2SP signed-note
// says a verifier skips), and golang.org/x/mod/sumdb/tlog, the Go checksum database's RFC 6962
// tree, recomputes the root from a full bundle's leaves and checks the ledger's inclusion
// proofs (in receipts) and its consistency proof (a bundle's consistency.json from a kept
// bundle's checkpoint).
//
// Usage:
//
//	ledgercheck -keys FILE -bundle NEW[.zip] [-old OLD[.zip]] [RECEIPT.json ...]
//
// It prints what it checked and exits 0, or prints the first thing that does not hold and
// exits 1 (2 for wrong usage).
package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// bundle is the files of an evidence bundle, a directory or a .zip of one.
type bundle map[string][]byte

func readBundle(path string) (bundle, error) {
	files := bundle{}
	if strings.HasSuffix(path, ".zip") {
		archive, err := zip.OpenReader(path)
		if err != nil {
			return nil, err
		}
		defer archive.Close()
		for _, member := range archive.File {
			reader, err := member.Open()
			if err != nil {
				return nil, err
			}
			data, err := io.ReadAll(reader)
			reader.Close()
			if err != nil {
				return nil, err
			}
			files[member.Name] = data
		}
		return files, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	for _, entry := range entries {
		if entry.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(path, entry.Name()))
		if err != nil {
			return nil, err
		}
		files[entry.Name()] = data
	}
	return files, nil
}

// verifiers are the log's keys, one verifier key a line; empty and # lines are skipped.
func verifiers(text []byte) (note.Verifiers, string, error) {
	var list []note.Verifier
	origin := ""
	for _, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		verifier, err := note.NewVerifier(line)
		if err != nil {
			return nil, "", fmt.Errorf("verifier key %q: %v", line, err)
		}
		if origin != "" && verifier.Name() != origin {
			return nil, "", fmt.Errorf("the keys name two logs: %s and %s", origin, verifier.Name())
		}
		origin = verifier.Name()
		list = append(list, verifier)
	}
	if len(list) == 0 {
		return nil, "", errors.New("no verifier key")
	}
	return note.VerifierList(list...), origin, nil
}

// checkpoint is a C2SP tlog-checkpoint opened with the log's keys.
type checkpoint struct {
	size       int64
	root       tlog.Hash
	signedBy   []string
	unverified int
}

func openCheckpoint(text []byte, keys note.Verifiers, origin string) (checkpoint, error) {
	opened, err := note.Open(text, keys)
	if err != nil {
		return checkpoint{}, fmt.Errorf("sumdb/note refuses the checkpoint: %v", err)
	}
	lines := strings.Split(opened.Text, "\n")
	// origin, size, root and the empty string after the last newline; more lines are
	// extensions.
	if len(lines) < 4 {
		return checkpoint{}, errors.New("the checkpoint's body has fewer than three lines")
	}
	if lines[0] != origin {
		return checkpoint{}, fmt.Errorf("the checkpoint's origin %q is not the keys' %q", lines[0], origin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return checkpoint{}, fmt.Errorf("the checkpoint's size %q is no number", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return checkpoint{}, fmt.Errorf("the checkpoint's root %q is no 32-byte hash", lines[2])
	}
	found := checkpoint{size: size, unverified: len(opened.UnverifiedSigs)}
	copy(found.root[:], root)
	for _, signature := range opened.Sigs {
		found.signedBy = append(found.signedBy, fmt.Sprintf("%s+%08x", signature.Name, signature.Hash))
	}
	return found, nil
}

// tree is the RFC 6962 tree over a full bundle's leaves, as tlog stores it.
type tree struct {
	hashes []tlog.Hash // indexed by tlog.StoredHashIndex
	size   int64
}

func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	found := make([]tlog.Hash, len(indexes))
	for i, index := range indexes {
		if index < 0 || index >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", index)
		}
		found[i] = t.hashes[index]
	}
	return found, nil
}

// leaves are the lines of entries.jsonl, each the exact bytes of one leaf.
func leaves(entries []byte) ([][]byte, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	if entries[len(entries)-1] != '\n' {
		return nil, errors.New("entries.jsonl does not end in a newline")
	}
	return bytes.Split(entries[:len(entries)-1], []byte("\n")), nil
}

func buildTree(records [][]byte) (*tree, error) {
	t := &tree{}
	for n, record := range records {
		stored, err := tlog.StoredHashes(int64(n), record, t)
		if err != nil {
			return nil, err
		}
		t.hashes = append(t.hashes, stored...)
		t.size = int64(n + 1)
	}
	return t, nil
}

func decodeHashes(encoded []string) (tlog.RecordProof, error) {
	proof := make(tlog.RecordProof, len(encoded))
	for i, text := range encoded {
		raw, err := base64.StdEncoding.DecodeString(text)
		if err != nil || len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("proof hash %d (%q) is no 32-byte hash", i, text)
		}
		copy(proof[i][:], raw)
	}
	return proof, nil
}

func sameHashes(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type receipt struct {
	Leaf       string   `json:"leaf"`
	Checkpoint string   `json:"checkpoint"`
	Inclusion  []string `json:"inclusion"`
}

type consistency struct {
	Size        int64    `json:"size"`
	Root        string   `json:"root"`
	Consistency []string `json:"consistency"`
}

func checkReceipt(path string, keys note.Verifiers, origin string, full *tree) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var r receipt
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	in, err := openCheckpoint([]byte(r.Checkpoint), keys, origin)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	var leaf struct {
		Seq *int64 `json:"seq"`
	}
	if err := json.Unmarshal([]byte(r.Leaf), &leaf); err != nil || leaf.Seq == nil {
		return fmt.Errorf("%s: the leaf names no seq", path)
	}
	proof, err := decodeHashes(r.Inclusion)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if err := tlog.CheckRecord(proof, in.size, in.root, *leaf.Seq, tlog.RecordHash([]byte(r.Leaf))); err != nil {
		return fmt.Errorf("%s: sumdb/tlog refuses the inclusion proof of leaf %d in the tree of size %d: %v", path, *leaf.Seq, in.size, err)
	}
	if full != nil && in.size <= full.size {
		root, err := tlog.TreeHash(in.size, full)
		if err != nil {
			return err
		}
		if root != in.root {
			return fmt.Errorf("%s: the receipt's checkpoint of size %d has another root than the bundle's leaves", path, in.size)
		}
		own, err := tlog.ProveRecord(in.size, *leaf.Seq, full)
		if err != nil {
			return err
		}
		if !sameHashes(own, proof) {
			return fmt.Errorf("%s: the inclusion proof is not the one sumdb/tlog makes from the bundle", path)
		}
	}
	fmt.Printf("receipt %s: leaf %d included in the tree of size %d (%d hashes), checkpoint signed by %s, %d other signature lines skipped\n",
		filepath.Base(path), *leaf.Seq, in.size, len(proof), strings.Join(in.signedBy, ", "), in.unverified)
	return nil
}

func run() error {
	keysFile := flag.String("keys", "", "the log's verifier keys, one a line")
	bundlePath := flag.String("bundle", "", "a full bundle (directory or .zip)")
	oldPath := flag.String("old", "", "a kept bundle that -bundle's consistency.json starts from")
	flag.Parse()
	if *keysFile == "" || *bundlePath == "" {
		flag.Usage()
		os.Exit(2)
	}
	keyText, err := os.ReadFile(*keysFile)
	if err != nil {
		return err
	}
	keys, origin, err := verifiers(keyText)
	if err != nil {
		return err
	}
	files, err := readBundle(*bundlePath)
	if err != nil {
		return err
	}
	if _, subset := files["proofs.jsonl"]; subset {
		return errors.New("a subset bundle: this check takes a full one")
	}
	top, err := openCheckpoint(files["checkpoint"], keys, origin)
	if err != nil {
		return fmt.Errorf("bundle: %v", err)
	}
	records, err := leaves(files["entries.jsonl"])
	if err != nil {
		return err
	}
	if int64(len(records)) != top.size {
		return fmt.Errorf("the bundle holds %d leaves, its checkpoint says %d", len(records), top.size)
	}
	full, err := buildTree(records)
	if err != nil {
		return err
	}
	root, err := tlog.TreeHash(top.size, full)
	if err != nil {
		return err
	}
	if root != top.root {
		return fmt.Errorf("sumdb/tlog computes root %s over the %d leaves, the checkpoint says %s", root, top.size, top.root)
	}
	fmt.Printf("bundle: checkpoint of size %d signed by %s, %d other signature lines skipped; the root of its %d leaves matches\n",
		top.size, strings.Join(top.signedBy, ", "), top.unverified, len(records))

	if raw, found := files["consistency.json"]; found {
		var c consistency
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("consistency.json: %v", err)
		}
		oldRoot, err := decodeHashes([]string{c.Root})
		if err != nil {
			return fmt.Errorf("consistency.json: %v", err)
		}
		proof, err := decodeHashes(c.Consistency)
		if err != nil {
			return fmt.Errorf("consistency.json: %v", err)
		}
		if c.Size < 1 || c.Size > top.size {
			return fmt.Errorf("consistency.json: size %d is not within 1 to %d", c.Size, top.size)
		}
		if err := tlog.CheckTree(tlog.TreeProof(proof), top.size, top.root, c.Size, oldRoot[0]); err != nil {
			return fmt.Errorf("sumdb/tlog refuses the consistency proof from size %d to %d: %v", c.Size, top.size, err)
		}
		own, err := tlog.ProveTree(top.size, c.Size, full)
		if err != nil {
			return err
		}
		if !sameHashes(own, proof) {
			return errors.New("consistency.json: the proof is not the one sumdb/tlog makes from the bundle")
		}
		if *oldPath != "" {
			old, err := readBundle(*oldPath)
			if err != nil {
				return err
			}
			kept, err := openCheckpoint(old["checkpoint"], keys, origin)
			if err != nil {
				return fmt.Errorf("kept bundle: %v", err)
			}
			if kept.size != c.Size || kept.root != oldRoot[0] {
				return fmt.Errorf("consistency.json starts from size %d, the kept checkpoint is of size %d with another root", c.Size, kept.size)
			}
		}
		fmt.Printf("consistency: the tree of size %d extends the kept one of size %d (%d hashes)\n", top.size, c.Size, len(proof))
	} else if *oldPath != "" {
		return errors.New("-old given, but the bundle has no consistency.json")
	}

	for _, path := range flag.Args() {
		if err := checkReceipt(path, keys, origin, full); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ledgercheck:", err)
		os.Exit(1)
	}
}
