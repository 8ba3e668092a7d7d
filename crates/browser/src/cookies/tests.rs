//! Cookie files: both formats round-trip; a malformed line, an expired
//! cookie and a cookie for another domain each get their verdict; neither
//! format is refused as a whole.

use super::*;

const NOW: f64 = 1_800_000_000.0;

#[test]
fn netscape_lines_get_verdicts_and_round_trip() {
    let text = "# Netscape HTTP Cookie File\n\
        .example.com\tTRUE\t/\tTRUE\t1900000000\tsid\tabc\n\
        #HttpOnly_shop.example.org\tFALSE\t/cart\tFALSE\t0\tcart\t3 items\n\
        example.com\tTRUE\t/\tFALSE\tsoon\tbad\tx\n\
        old.example.com\tFALSE\t/\tFALSE\t1000\tgone\tx\n\
        only\tthree\tfields\n";
    let parsed = parse(text, NOW).unwrap();
    assert_eq!(parsed.format, CookieFormat::Netscape);
    let kinds: Vec<String> = parsed
        .verdicts
        .iter()
        .map(|v| match v {
            CookieVerdict::Imported { at, domain, name } => format!("{at} ok {domain} {name}"),
            CookieVerdict::Expired { at, name } => format!("{at} expired {name}"),
            CookieVerdict::Invalid { at, reason } => format!("{at} bad {reason}"),
        })
        .collect();
    assert_eq!(kinds[0], "2 ok .example.com sid");
    assert_eq!(kinds[1], "3 ok shop.example.org cart");
    assert!(kinds[2].starts_with("4 bad expiry \"soon\""), "{kinds:?}");
    assert_eq!(kinds[3], "5 expired gone");
    assert!(
        kinds[4].starts_with("6 bad 3 tab-separated fields"),
        "{kinds:?}"
    );
    assert_eq!(parsed.cookies.len(), 2);
    assert_eq!(parsed.cookies[1]["httpOnly"], true);
    assert!(
        parsed.cookies[1].get("expires").is_none(),
        "a session cookie"
    );
    // Written out and read again: the same cookies.
    let again = parse(&render(&parsed.cookies, CookieFormat::Netscape), NOW).unwrap();
    assert_eq!(again.cookies, parsed.cookies);
    let via_json = parse(&render(&parsed.cookies, CookieFormat::Json), NOW).unwrap();
    assert_eq!(via_json.format, CookieFormat::Json);
    assert_eq!(via_json.cookies, parsed.cookies);
}

#[test]
fn extension_json_is_read() {
    let text = r#"[
        {"domain": ".example.com", "hostOnly": false, "name": "sid", "value": "abc", "path": "/",
         "secure": true, "httpOnly": true, "sameSite": "no_restriction", "session": false, "expirationDate": 1900000000.5},
        {"domain": "example.net", "hostOnly": true, "name": "pref", "value": "1", "session": true},
        {"domain": "old.example.com", "name": "gone", "value": "x", "expirationDate": 10},
        {"name": "nodomain", "value": "x"},
        "not a cookie"
    ]"#;
    let parsed = parse(text, NOW).unwrap();
    assert_eq!(parsed.cookies.len(), 2);
    assert_eq!(parsed.cookies[0]["sameSite"], "None");
    assert_eq!(parsed.cookies[0]["expires"], 1900000000.5);
    assert_eq!(parsed.cookies[1]["domain"], "example.net");
    assert!(matches!(
        parsed.verdicts[2],
        CookieVerdict::Expired { at: 3, .. }
    ));
    assert!(
        matches!(&parsed.verdicts[3], CookieVerdict::Invalid { at: 4, reason } if reason.contains("no domain"))
    );
    assert!(matches!(
        parsed.verdicts[4],
        CookieVerdict::Invalid { at: 5, .. }
    ));
}

#[test]
fn neither_format_is_refused() {
    assert!(parse("just some words\nand more", NOW).is_err());
    assert!(parse("{\"not\": \"cookies\"}", NOW).is_err());
    assert!(parse("[1, 2", NOW).is_err());
    assert!(parse("", NOW).unwrap().verdicts.is_empty());
}
