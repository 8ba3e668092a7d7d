//! Import: a file mixing every line format with broken lines gets a verdict
//! per line, valid lines stored and nothing else; CSV, FoxyProxy and Clash
//! files are detected; duplicates are reported; export round-trips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use vip_store::Store;
use vip_store::porting::{self, ExportFormat, Format, ImportDefaults, Verdict};
use vip_store::vault::{Secret, Vault};

fn setup() -> (tempfile::TempDir, Store, Vault) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("vip.db")).unwrap();
    let vault = Vault::init(store.conn(), &Secret::new("correct horse battery")).unwrap();
    (dir, store, vault)
}

fn import(store: &Store, vault: &Vault, input: &[u8]) -> porting::ImportReport {
    let parsed = porting::parse(input);
    porting::apply(
        store,
        Some(vault),
        parsed,
        &ImportDefaults::default(),
        &mut |_, _| {},
    )
    .unwrap()
}

#[test]
fn mixed_lines_with_broken_ones_get_per_line_verdicts() {
    let (_d, store, vault) = setup();
    let mut input = Vec::new();
    input.extend_from_slice(b"# provider list\n");
    input.extend_from_slice(b"10.0.0.1:8080\n");
    input.extend_from_slice(b"gw.example.com:7777:user-1:pa:ss\n");
    input.extend_from_slice(b"user2:p%40ss@gw.example.com:7777\n");
    input.extend_from_slice(b"socks5://u3:p3@[2001:db8::1]:1080\n");
    input.extend_from_slice(b"https://proxy.example.net:443\n");
    input.extend_from_slice(b"10.0.0.2:99999\n");
    input.extend_from_slice(b"ftp://u:p@host.example:21\n");
    input.extend_from_slice(b":8080\n");
    input.extend_from_slice(b"\xff\xfe\x00garbage\x80\n");
    input.extend(std::iter::repeat_n(b'a', 1 << 20));
    input.push(b'\n');
    input.extend_from_slice(b"10.0.0.1:8080\n");
    input.extend_from_slice(b"\r\n   \n10.0.0.3:3128\r\n");
    let report = import(&store, &vault, &input);
    assert_eq!(report.format, Format::Lines);
    assert_eq!(
        (report.imported, report.duplicates, report.invalid),
        (6, 1, 5),
        "{:#?}",
        report.verdicts
    );
    let invalid: Vec<(usize, &str)> = report
        .verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Invalid { at, reason } => Some((*at, reason.as_str())),
            _ => None,
        })
        .collect();
    let expect = [
        (7, "bad port \"99999\""),
        (8, "unknown scheme \"ftp\""),
        (9, "missing host"),
        (10, "not text (invalid UTF-8)"),
        (11, "line is 1048576 bytes long"),
    ];
    for ((at, reason), (want_at, want)) in invalid.iter().zip(expect) {
        assert_eq!(*at, want_at);
        assert!(reason.contains(want), "line {at}: {reason}");
    }
    assert!(matches!(
        report
            .verdicts
            .iter()
            .find(|v| matches!(v, Verdict::Duplicate { .. })),
        Some(Verdict::Duplicate { at: 12, .. })
    ));
    let proxies = store.list_proxies(None).unwrap();
    assert_eq!(proxies.len(), 6);
    let hosts: Vec<_> = proxies
        .iter()
        .map(|p| {
            (
                p.protocol.as_str(),
                p.host.as_str(),
                p.port,
                p.credential_id.is_some(),
            )
        })
        .collect();
    assert!(hosts.contains(&("socks5", "2001:db8::1", 1080, true)));
    assert!(hosts.contains(&("https", "proxy.example.net", 443, false)));
    // Same gateway, two usernames: two proxies. Passwords decrypt exactly.
    let gw: Vec<_> = proxies
        .iter()
        .filter(|p| p.host == "gw.example.com")
        .collect();
    assert_eq!(gw.len(), 2);
    let c = store
        .get_credential(
            &vault,
            vip_engine::CredentialRef((gw[0].credential_id.unwrap()) as u64),
        )
        .unwrap();
    assert_eq!(
        (c.username.expose(), c.password.expose()),
        ("user-1", "pa:ss")
    );
    let c = store
        .get_credential(
            &vault,
            vip_engine::CredentialRef((gw[1].credential_id.unwrap()) as u64),
        )
        .unwrap();
    assert_eq!(c.password.expose(), "p@ss");
    // Importing the same file again stores nothing new.
    let again = import(&store, &vault, &input);
    assert_eq!((again.imported, again.duplicates), (0, 7));
}

#[test]
fn csv_foxyproxy_and_clash_are_detected() {
    let (_d, store, vault) = setup();
    let csv = "Host,Port,Protocol,Username,Password,Country,Group,Weight,Tags\n\
               1.1.1.1,8080,http,,,DE,res,70,a;b\n\
               2.2.2.2,1080,socks5,bob,\"p,w\",US,res,30,\n\
               3.3.3.3,nope,http,,,,,,\n\
               4.4.4.4,80,gopher,,,,,,\n";
    let r = import(&store, &vault, csv.as_bytes());
    assert_eq!(
        (r.format, r.imported, r.invalid),
        (Format::Csv, 2, 2),
        "{:#?}",
        r.verdicts
    );
    assert!(
        matches!(&r.verdicts[2], Verdict::Invalid { at: 4, reason } if reason.contains("bad port \"nope\""))
    );
    let de = store.list_proxies(Some("res")).unwrap();
    assert_eq!(
        (de[0].country.as_deref(), de[0].weight, de[0].tags.clone()),
        (Some("DE"), 70, vec!["a".to_string(), "b".to_string()])
    );

    let fox = r#"{"mode":"patterns","data":[
        {"type":"socks5","hostname":"5.5.5.5","port":"1080","username":"fu","password":"fp","cc":"FR","city":"Paris","active":true},
        {"type":"direct","hostname":"","port":""},
        {"type":"http","hostname":"6.6.6.6","port":3128,"active":false}]}"#;
    let r = import(&store, &vault, fox.as_bytes());
    assert_eq!(
        (r.format, r.imported, r.invalid),
        (Format::FoxyProxy, 2, 1),
        "{:#?}",
        r.verdicts
    );
    let v7 = r#"{"proxySettings":[{"type":3,"address":"7.7.7.7","port":1080},{"type":5,"address":"","port":0}]}"#;
    let r = import(&store, &vault, v7.as_bytes());
    assert_eq!((r.imported, r.invalid), (1, 1));
    assert!(
        matches!(&r.verdicts[1], Verdict::Invalid { at: 2, reason } if reason.contains("not a proxy"))
    );

    let clash = "port: 7890\nproxies:\n  - {name: a, type: http, server: 8.8.8.8, port: 8080}\n  - name: b\n    type: http\n    server: 9.9.9.9\n    port: 443\n    tls: true\n    username: cu\n    password: cp\n  - {name: c, type: ss, server: 1.0.0.1, port: 8388, cipher: aes-128-gcm, password: x}\n  - {name: d, type: socks5, server: 1.0.0.2}\n";
    let r = import(&store, &vault, clash.as_bytes());
    assert_eq!(
        (r.format, r.imported, r.invalid),
        (Format::Clash, 2, 2),
        "{:#?}",
        r.verdicts
    );
    let https = store
        .list_proxies(None)
        .unwrap()
        .into_iter()
        .find(|p| p.host == "9.9.9.9")
        .unwrap();
    assert_eq!(
        (https.protocol.as_str(), https.credential_id.is_some()),
        ("https", true)
    );
}

#[test]
fn export_formats() {
    let (_d, store, vault) = setup();
    import(
        &store,
        &vault,
        b"http://us%3Aer:p%2Fw@a.example:8080\nsocks5://b.example:1080\nhttps://[::1]:8443\n",
    );
    let plain = porting::export(&store, None, ExportFormat::Urls, false, None).unwrap();
    assert_eq!(
        plain,
        "http://a.example:8080\nsocks5://b.example:1080\nhttps://[::1]:8443\n"
    );
    let with = porting::export(&store, Some(&vault), ExportFormat::Urls, true, None).unwrap();
    assert!(
        with.starts_with("http://us%3Aer:p%2Fw@a.example:8080\n"),
        "{with}"
    );
    // The exported list imports back to the same credentials.
    let (_d2, other, v2) = setup();
    let r = import(&other, &v2, with.as_bytes());
    assert_eq!(r.imported, 3);
    let p = other
        .list_proxies(None)
        .unwrap()
        .into_iter()
        .find(|p| p.host == "a.example")
        .unwrap();
    let c = other
        .get_credential(
            &v2,
            vip_engine::CredentialRef((p.credential_id.unwrap()) as u64),
        )
        .unwrap();
    assert_eq!((c.username.expose(), c.password.expose()), ("us:er", "p/w"));
    let csv = porting::export(&store, None, ExportFormat::Csv, false, None).unwrap();
    assert!(csv.starts_with("host,port,protocol,country,"));
    assert!(!csv.contains("p/w"));
    let pac = porting::export(&store, None, ExportFormat::Pac, false, None).unwrap();
    assert!(
        pac.contains("PROXY a.example:8080; SOCKS5 b.example:1080; HTTPS [::1]:8443"),
        "{pac}"
    );
    assert!(porting::export(&store, Some(&vault), ExportFormat::Pac, true, None).is_err());
}

#[test]
fn defaults_fill_what_entries_leave_unset_and_the_report_reads_per_line() {
    let (_d, store, vault) = setup();
    let input = b"region,host,port\nwest,10.0.0.7,8080\n,10.0.0.8,8080\n";
    let defaults = ImportDefaults {
        group: Some("g".into()),
        country: Some("DE".into()),
        region: Some("east".into()),
        city: Some("Berlin".into()),
        weight: Some(7),
        tags: vec!["t".into()],
        disabled: true,
    };
    let parsed = porting::parse(input);
    let report = porting::apply(&store, Some(&vault), parsed, &defaults, &mut |_, _| {}).unwrap();
    assert_eq!(report.imported, 2, "{report}");
    let proxies = store.list_proxies(None).unwrap();
    let regions: Vec<_> = proxies.iter().map(|p| p.region.clone()).collect();
    assert_eq!(regions, [Some("west".into()), Some("east".into())]);
    for p in &proxies {
        assert_eq!(
            (p.group.as_deref(), p.country.as_deref(), p.city.as_deref()),
            (Some("g"), Some("DE"), Some("Berlin"))
        );
        assert_eq!(
            (p.weight, p.enabled, p.tags.clone()),
            (7, false, vec!["t".to_string()])
        );
    }
    assert_eq!(
        report.to_string(),
        "line 2: imported as proxy 1\nline 3: imported as proxy 2\ncsv format: 2 imported, 0 duplicate, 0 invalid"
    );
}
