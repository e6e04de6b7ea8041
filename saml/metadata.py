"""The SP metadata uploaded to NemLog-in: separate signing and encryption certificates,
the persistent NameID format, one HTTP-POST AssertionConsumerService, logout endpoints,
the requested attributes with the URI name format, and a contact person."""

from lxml import etree

from saml import vocabulary as v
from saml.credentials import certificate_body
from saml.settings import SamlSettings

# What the SP can decrypt, most preferred first; NemLog-in chooses from this list.
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
OFFERED_ENCRYPTION = (v.AES256_GCM, v.AES256_CBC, v.RSA_OAEP, v.RSA_OAEP_MGF1P)


def sp_metadata(settings: SamlSettings, *, signing_cert: str, encryption_cert: str) -> bytes:
    def md(parent: etree._Element, tag: str, **attributes: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{v.MD}}}{tag}", attributes)

    root = etree.Element(
        f"{{{v.MD}}}EntityDescriptor",
        {"entityID": settings.sp_entity_id},
        nsmap={"md": v.MD, "ds": v.DS},
    )
    descriptor = md(
        root,
        "SPSSODescriptor",
        AuthnRequestsSigned="true",
        WantAssertionsSigned="true",
        protocolSupportEnumeration=v.SAMLP,
    )
    for use, pem in (("signing", signing_cert), ("encryption", encryption_cert)):
        key = md(descriptor, "KeyDescriptor", use=use)
        info = etree.SubElement(key, f"{{{v.DS}}}KeyInfo")
        data = etree.SubElement(info, f"{{{v.DS}}}X509Data")
        etree.SubElement(data, f"{{{v.DS}}}X509Certificate").text = certificate_body(pem)
        if use == "encryption":
            for algorithm in OFFERED_ENCRYPTION:
                method = md(key, "EncryptionMethod", Algorithm=algorithm)
                if algorithm == v.RSA_OAEP:
                    etree.SubElement(method, f"{{{v.DS}}}DigestMethod", Algorithm=v.SHA256)
                    etree.SubElement(
                        method,
                        f"{{{v.XENC11}}}MGF",
                        Algorithm=v.MGF1_SHA256,
                        nsmap={"xenc11": v.XENC11},
                    )
    md(descriptor, "SingleLogoutService", Binding=v.BINDING_REDIRECT, Location=settings.slo_url)
    md(descriptor, "NameIDFormat").text = v.NAMEID_PERSISTENT
    md(
        descriptor,
        "AssertionConsumerService",
        Binding=v.BINDING_POST,
        Location=settings.acs_url,
        index="0",
        isDefault="true",
    )
    service = md(descriptor, "AttributeConsumingService", index="0", isDefault="true")
    service_name = etree.SubElement(service, f"{{{v.MD}}}ServiceName", {XML_LANG: "da"})
    service_name.text = "Godkendelse af driftsaftale"
    for attribute, required in v.REQUESTED_ATTRIBUTES:
        md(
            service,
            "RequestedAttribute",
            Name=attribute,
            NameFormat=v.ATTRNAME_URI,
            isRequired="true" if required else "false",
        )
    contact = md(root, "ContactPerson", contactType="technical")
    md(contact, "GivenName").text = settings.contact_name
    md(contact, "EmailAddress").text = f"mailto:{settings.contact_email}"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
