"""For development and tests only: the demo data and the development IdP with its personas.
Only the entry points and the tests import it; the library packages never do."""
