//! What lighttpd tells backends about a client certificate, read from its DER (RFC 5280 §4.1):
//! the subject's and issuer's names, on one line as lighttpd 1.4.69 writes them (OpenSSL's
//! `XN_FLAG_ONELINE`: `C = DE, O = Org, CN = name`) and attribute by attribute (`CN`, `O`,
//! ...), and the serial number in hexadecimal. Nothing
//! else of the certificate is read; rustls has verified it before this runs.

/// The parts of a certificate a backend is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Described {
    /// The subject's relative distinguished names in order, each its attributes by short name
    /// (`CN`) or dotted OID (one each, but for multi-valued ones).
    pub subject: Vec<Vec<(String, String)>>,
    /// The issuer's.
    pub issuer: Vec<Vec<(String, String)>>,
    /// The serial number, upper-case hexadecimal without leading zeros (OpenSSL's BN_bn2hex).
    pub serial: String,
}

/// A name as OpenSSL prints it with `XN_FLAG_ONELINE` (what lighttpd 1.4.69 passes as
/// SSL_CLIENT_S_DN): `C = DE, O = Org, CN = name`, the attributes of a multi-valued RDN joined
/// by ` + `, a value with `,+<>;` (or a leading `#`, or leading or trailing spaces) in quotes,
/// `"` and `\` escaped with `\` (as `openssl x509 -nameopt oneline` prints them).
pub(crate) fn one_line(name: &[Vec<(String, String)>]) -> String {
    let value = |v: &str| {
        let special =
            v.contains([',', '+', '<', '>', ';']) || v.starts_with(['#', ' ']) || v.ends_with(' ');
        let mut escaped = String::with_capacity(v.len());
        for c in v.chars() {
            match c {
                '\\' => escaped.push_str("\\\\"),
                '"' => escaped.push_str("\\\""),
                // Control characters as OpenSSL writes them: \0D for CR.
                c if c.is_control() && (c as u32) < 0x100 => {
                    escaped.push_str(&format!("\\{:02X}", c as u32));
                }
                c => escaped.push(c),
            }
        }
        if special {
            format!("\"{escaped}\"")
        } else {
            escaped
        }
    };
    name.iter()
        .map(|rdn| {
            rdn.iter()
                .map(|(k, v)| format!("{k} = {}", value(v)))
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One DER element: (tag, contents, what follows it).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;

/// Reads the subject, issuer and serial of a DER certificate; `None` if it is not one.
pub(crate) fn describe(der: &[u8]) -> Option<Described> {
    let (SEQUENCE, cert, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] EXPLICIT version, when not v1.
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    let (INTEGER, serial, rest) = element(rest)? else {
        return None;
    };
    let (SEQUENCE, _signature, rest) = element(rest)? else {
        return None;
    };
    let (SEQUENCE, issuer, rest) = element(rest)? else {
        return None;
    };
    let (SEQUENCE, _validity, rest) = element(rest)? else {
        return None;
    };
    let (SEQUENCE, subject, _) = element(rest)? else {
        return None;
    };
    // BN_bn2hex: whole bytes, leading zero bytes dropped (0x0F2E3D is "0F2E3D").
    let digits: String = serial
        .iter()
        .skip_while(|&&b| b == 0)
        .map(|b| format!("{b:02X}"))
        .collect();
    let serial = if digits.is_empty() {
        "0".to_string()
    } else {
        digits
    };
    Some(Described {
        subject: name(subject)?,
        issuer: name(issuer)?,
        serial,
    })
}

/// The RDNs of a Name (a SEQUENCE OF SET OF AttributeTypeAndValue), in order.
fn name(mut rdns: &[u8]) -> Option<Vec<Vec<(String, String)>>> {
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let (SET, mut set, rest) = element(rdns)? else {
            return None;
        };
        rdns = rest;
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let (SEQUENCE, atv, rest) = element(set)? else {
                return None;
            };
            set = rest;
            let (OID, oid, value) = element(atv)? else {
                return None;
            };
            let (tag, value, _) = element(value)?;
            rdn.push((short_name(oid), text(tag, value)));
        }
        out.push(rdn);
    }
    Some(out)
}

/// OpenSSL's short name of an attribute type, or its dotted OID.
fn short_name(oid: &[u8]) -> String {
    let known: &[(&[u8], &str)] = &[
        (&[0x55, 0x04, 0x03], "CN"),
        (&[0x55, 0x04, 0x04], "SN"),
        (&[0x55, 0x04, 0x05], "serialNumber"),
        (&[0x55, 0x04, 0x06], "C"),
        (&[0x55, 0x04, 0x07], "L"),
        (&[0x55, 0x04, 0x08], "ST"),
        (&[0x55, 0x04, 0x09], "street"),
        (&[0x55, 0x04, 0x0a], "O"),
        (&[0x55, 0x04, 0x0b], "OU"),
        (&[0x55, 0x04, 0x0c], "title"),
        (&[0x55, 0x04, 0x0f], "businessCategory"),
        (&[0x55, 0x04, 0x11], "postalCode"),
        (&[0x55, 0x04, 0x29], "name"),
        (&[0x55, 0x04, 0x2a], "GN"),
        (&[0x55, 0x04, 0x2b], "initials"),
        (&[0x55, 0x04, 0x2c], "generationQualifier"),
        (&[0x55, 0x04, 0x2e], "dnQualifier"),
        (&[0x55, 0x04, 0x41], "pseudonym"),
        (&[0x55, 0x04, 0x61], "organizationIdentifier"),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
            "emailAddress",
        ),
        (
            &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
            "DC",
        ),
        (
            &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
            "UID",
        ),
    ];
    if let Some((_, n)) = known.iter().find(|(o, _)| *o == oid) {
        return (*n).to_string();
    }
    // Dotted: the first byte holds two arcs, the rest base-128 with continuation bits.
    let mut arcs = Vec::new();
    let mut n: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        n = (n << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if i == 0 || arcs.is_empty() {
                let first = (n / 40).min(2);
                arcs.push(first);
                arcs.push(n - first * 40);
            } else {
                arcs.push(n);
            }
            n = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// A directory string's text: UTF-16 for BMPString, UTF-32 for UniversalString, else bytes
/// taken as UTF-8 (Printable, IA5 and Teletex strings are ASCII in practice).
fn text(tag: u8, value: &[u8]) -> String {
    match tag {
        0x1e => char::decode_utf16(
            value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        )
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect(),
        0x1c => value
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => String::from_utf8_lossy(value).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    /// Made with `openssl req -x509 ... -subj "/C=DE/ST=Bayern/O=Relight Test/OU=Devices/
    /// CN=client-7/emailAddress=ops@example.org" -set_serial 0x1F2E3D`; `openssl x509 -subject
    /// -serial` says "/C=DE/ST=Bayern/O=Relight Test/OU=Devices/CN=client-7/
    /// emailAddress=ops@example.org" and "1F2E3D".
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIICODCCAd6gAwIBAgIDHy49MAoGCCqGSM49BAMCMHoxCzAJBgNVBAYTAkRFMQ8w
DQYDVQQIDAZCYXllcm4xFTATBgNVBAoMDFJlbGlnaHQgVGVzdDEQMA4GA1UECwwH
RGV2aWNlczERMA8GA1UEAwwIY2xpZW50LTcxHjAcBgkqhkiG9w0BCQEWD29wc0Bl
eGFtcGxlLm9yZzAeFw0yNjEyMDIwMTQzMzNaFw0zNjExMjkwMTQzMzNaMHoxCzAJ
BgNVBAYTAkRFMQ8wDQYDVQQIDAZCYXllcm4xFTATBgNVBAoMDFJlbGlnaHQgVGVz
dDEQMA4GA1UECwwHRGV2aWNlczERMA8GA1UEAwwIY2xpZW50LTcxHjAcBgkqhkiG
9w0BCQEWD29wc0BleGFtcGxlLm9yZzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA
BBvdGavUdRWkUQ3axjnQgT2Ik9YxduIbAnnG5d6UxacV8geXf2EK2xQE/u/tTh9g
h0DHvN983viuoD7GYTc5Nw2jUzBRMB0GA1UdDgQWBBSzEhGudLT6IU+GbLt3LalQ
ndl5DzAfBgNVHSMEGDAWgBSzEhGudLT6IU+GbLt3LalQndl5DzAPBgNVHRMBAf8E
BTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQDKml8y2MfbSSrty5Yl/QI31EYp4U1J
YM6uEMlt96xVPwIgQ2sb4GwYCgEhLppf1LgPC11/TTh3fSMjhUNI6ziYKnI=
-----END CERTIFICATE-----
";

    #[test]
    fn names_and_serial_as_openssl_prints_them() {
        let der = CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap();
        let d = describe(&der).unwrap();
        let line = "C = DE, ST = Bayern, O = Relight Test, OU = Devices, CN = client-7, emailAddress = ops@example.org";
        assert_eq!(one_line(&d.subject), line);
        assert_eq!(one_line(&d.issuer), line);
        assert_eq!(d.serial, "1F2E3D");
        // A control character in a value is escaped, never passed on raw.
        let crlf = vec![vec![("CN".to_string(), "a\r\nb".to_string())]];
        assert_eq!(one_line(&crlf), "CN = a\\0D\\0Ab");
        assert_eq!(d.subject[4], [("CN".to_string(), "client-7".to_string())]);
    }

    #[test]
    fn special_values_are_quoted_and_rdns_joined() {
        let rdn = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let mut multi = rdn("CN", "a");
        multi.push(("UID".into(), "7".into()));
        assert_eq!(
            one_line(&[rdn("O", "Acme, Inc."), multi, rdn("OU", "say \"hi\"")]),
            "O = \"Acme, Inc.\", CN = a + UID = 7, OU = say \\\"hi\\\""
        );
    }

    #[test]
    fn what_is_not_a_certificate_is_none() {
        assert_eq!(describe(b""), None);
        assert_eq!(describe(&[0x30, 0x82, 0xff]), None);
        assert_eq!(describe(&[0x30, 0x03, 0x02, 0x01, 0x05]), None);
        // Every truncation of a real one.
        let der = CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap();
        for n in 0..der.len() {
            assert_eq!(describe(&der[..n]), None, "cut at {n}");
        }
    }

    #[test]
    fn unknown_attributes_are_dotted() {
        assert_eq!(
            short_name(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37]),
            "1.3.6.1.4.1.311"
        );
    }
}
