// Sends the SAML response on to the portal, as NemLog-in's own page does.
document.getElementById("saml-post").submit();
