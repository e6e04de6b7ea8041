"""The names SAML, XML security and OIOSAML 3.0 give things, each written once."""

from typing import Final

# XML namespaces
SAMLP: Final = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML: Final = "urn:oasis:names:tc:SAML:2.0:assertion"
MD: Final = "urn:oasis:names:tc:SAML:2.0:metadata"
DS: Final = "http://www.w3.org/2000/09/xmldsig#"
XENC: Final = "http://www.w3.org/2001/04/xmlenc#"
XENC11: Final = "http://www.w3.org/2009/xmlenc11#"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
XS: Final = "http://www.w3.org/2001/XMLSchema"
NAMESPACES: Final = {
    "samlp": SAMLP,
    "saml": SAML,
    "md": MD,
    "ds": DS,
    "xenc": XENC,
    "xenc11": XENC11,
}

# Protocol values
STATUS_SUCCESS: Final = "urn:oasis:names:tc:SAML:2.0:status:Success"
NAMEID_PERSISTENT: Final = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
ATTRNAME_URI: Final = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
BEARER: Final = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
BINDING_POST: Final = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT: Final = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"

# OIOSAML 3.0 attributes (all with the URI name format)
SPEC_VERSION: Final = "https://data.gov.dk/model/core/specVersion"
LOA: Final = "https://data.gov.dk/concept/core/nsis/loa"
IAL: Final = "https://data.gov.dk/concept/core/nsis/ial"
AAL: Final = "https://data.gov.dk/concept/core/nsis/aal"
CVR: Final = "https://data.gov.dk/model/core/eid/professional/cvr"
ORG_NAME: Final = "https://data.gov.dk/model/core/eid/professional/orgName"
PROFESSIONAL_UUID: Final = "https://data.gov.dk/model/core/eid/professional/uuid/persistent"
AUTHORIZED_TO_REPRESENT: Final = (
    "https://data.gov.dk/model/core/eid/professional/authorizedToRepresent"
)
# OIO Basic Privilege Profile XML, base64: the rights an organisation's own MitID Erhverv
# administrators assign, in groups scoped urn:dk:gov:saml:cvrNumberIdentifier:<cvr>.
PRIVILEGES_INTERMEDIATE: Final = "https://data.gov.dk/model/core/eid/privilegesIntermediate"
PRIVILEGE_CVR_SCOPE: Final = "urn:dk:gov:saml:cvrNumberIdentifier:"
FIRST_NAME: Final = "https://data.gov.dk/model/core/eid/firstName"
LAST_NAME: Final = "https://data.gov.dk/model/core/eid/lastName"
FULL_NAME: Final = "https://data.gov.dk/model/core/eid/fullName"
EMAIL: Final = "https://data.gov.dk/model/core/eid/email"
PERSON_UUID: Final = "https://data.gov.dk/model/core/eid/person/uuid/persistent"
OIOSAML_3: Final = "OIO-SAML-3.0"

PROFESSIONAL_NAMEID_PREFIX: Final = "https://data.gov.dk/model/core/eid/professional/uuid/"
PRIVATE_NAMEID_PREFIX: Final = "https://data.gov.dk/model/core/eid/person/uuid/"

LOA_SUBSTANTIAL_CONTEXT: Final = "https://data.gov.dk/concept/core/nsis/loa/Substantial"
PROFESSIONAL_CONTEXT: Final = "https://data.gov.dk/eid/Professional"

# What the service provider asks for; never the CPR number.
REQUESTED_ATTRIBUTES: Final = (
    (SPEC_VERSION, True),
    (LOA, True),
    (CVR, True),
    (ORG_NAME, True),
    (PROFESSIONAL_UUID, True),
    (FULL_NAME, True),
    (FIRST_NAME, False),
    (LAST_NAME, False),
    (EMAIL, False),
    (AUTHORIZED_TO_REPRESENT, False),
    (PRIVILEGES_INTERMEDIATE, False),
)

# Algorithms
RSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA384: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
RSA_SHA512: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
ECDSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ECDSA_SHA384: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
ECDSA_SHA512: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
RSA_SHA1: Final = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1: Final = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA384: Final = "http://www.w3.org/2001/04/xmldsig-more#sha384"
SHA512: Final = "http://www.w3.org/2001/04/xmlenc#sha512"
EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

AES256_GCM: Final = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
AES128_GCM: Final = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
AES256_CBC: Final = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
AES128_CBC: Final = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
TRIPLEDES_CBC: Final = "http://www.w3.org/2001/04/xmlenc#tripledes-cbc"
RSA_OAEP: Final = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
RSA_OAEP_MGF1P: Final = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
RSA_1_5: Final = "http://www.w3.org/2001/04/xmlenc#rsa-1_5"
MGF1_SHA1: Final = "http://www.w3.org/2009/xmlenc11#mgf1sha1"
MGF1_SHA256: Final = "http://www.w3.org/2009/xmlenc11#mgf1sha256"
MGF1_SHA384: Final = "http://www.w3.org/2009/xmlenc11#mgf1sha384"
MGF1_SHA512: Final = "http://www.w3.org/2009/xmlenc11#mgf1sha512"

ALLOWED_SIGNATURE_METHODS: Final = frozenset(
    {RSA_SHA256, RSA_SHA384, RSA_SHA512, ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512}
)
ALLOWED_DIGESTS: Final = frozenset({SHA256, SHA384, SHA512})
ALLOWED_TRANSFORMS: Final = frozenset({ENVELOPED, EXC_C14N})
ALLOWED_DATA_ENCRYPTION: Final = frozenset({AES256_GCM, AES256_CBC})
ALLOWED_KEY_TRANSPORT: Final = frozenset({RSA_OAEP, RSA_OAEP_MGF1P})
ALLOWED_MGF: Final = frozenset({MGF1_SHA256, MGF1_SHA384, MGF1_SHA512})
