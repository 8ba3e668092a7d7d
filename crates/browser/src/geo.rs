//! A proxy's country → the timezone, locale and languages a person browsing
//! from there would have. One representative IANA zone per country (the
//! most populous one); Chromium's ICU applies its daylight-saving rules.
//! Unknown countries get UTC and US English.

/// What a country looks like to a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locale {
    /// IANA timezone, e.g. `Europe/Berlin` (the country's main one, or
    /// the exit's own from a City database).
    pub timezone: String,
    /// BCP 47 locale for `Intl`, e.g. `de-DE`.
    pub locale: &'static str,
    /// `navigator.languages`, most preferred first.
    pub languages: Vec<&'static str>,
}

// (country, timezone, languages; the first language is the locale)
const TABLE: &[(&str, &str, &str)] = &[
    ("AE", "Asia/Dubai", "ar-AE,ar,en"),
    ("AR", "America/Argentina/Buenos_Aires", "es-AR,es,en"),
    ("AT", "Europe/Vienna", "de-AT,de,en"),
    ("AU", "Australia/Sydney", "en-AU,en"),
    ("BE", "Europe/Brussels", "nl-BE,nl,fr,en"),
    ("BG", "Europe/Sofia", "bg-BG,bg,en"),
    ("BR", "America/Sao_Paulo", "pt-BR,pt,en"),
    ("CA", "America/Toronto", "en-CA,en,fr"),
    ("CH", "Europe/Zurich", "de-CH,de,fr,en"),
    ("CL", "America/Santiago", "es-CL,es,en"),
    ("CN", "Asia/Shanghai", "zh-CN,zh"),
    ("CO", "America/Bogota", "es-CO,es,en"),
    ("CZ", "Europe/Prague", "cs-CZ,cs,en"),
    ("DE", "Europe/Berlin", "de-DE,de,en"),
    ("DK", "Europe/Copenhagen", "da-DK,da,en"),
    ("EE", "Europe/Tallinn", "et-EE,et,en"),
    ("EG", "Africa/Cairo", "ar-EG,ar,en"),
    ("ES", "Europe/Madrid", "es-ES,es,en"),
    ("FI", "Europe/Helsinki", "fi-FI,fi,en"),
    ("FR", "Europe/Paris", "fr-FR,fr,en"),
    ("GB", "Europe/London", "en-GB,en"),
    ("GR", "Europe/Athens", "el-GR,el,en"),
    ("HK", "Asia/Hong_Kong", "zh-HK,zh,en"),
    ("HR", "Europe/Zagreb", "hr-HR,hr,en"),
    ("HU", "Europe/Budapest", "hu-HU,hu,en"),
    ("ID", "Asia/Jakarta", "id-ID,id,en"),
    ("IE", "Europe/Dublin", "en-IE,en"),
    ("IL", "Asia/Jerusalem", "he-IL,he,en"),
    ("IN", "Asia/Kolkata", "en-IN,en,hi"),
    ("IT", "Europe/Rome", "it-IT,it,en"),
    ("JP", "Asia/Tokyo", "ja-JP,ja,en"),
    ("KE", "Africa/Nairobi", "en-KE,en,sw"),
    ("KR", "Asia/Seoul", "ko-KR,ko,en"),
    ("LT", "Europe/Vilnius", "lt-LT,lt,en"),
    ("LV", "Europe/Riga", "lv-LV,lv,en"),
    ("MX", "America/Mexico_City", "es-MX,es,en"),
    ("MY", "Asia/Kuala_Lumpur", "ms-MY,ms,en"),
    ("NG", "Africa/Lagos", "en-NG,en"),
    ("NL", "Europe/Amsterdam", "nl-NL,nl,en"),
    ("NO", "Europe/Oslo", "nb-NO,nb,no,en"),
    ("NZ", "Pacific/Auckland", "en-NZ,en"),
    ("PE", "America/Lima", "es-PE,es,en"),
    ("PH", "Asia/Manila", "en-PH,en,fil"),
    ("PK", "Asia/Karachi", "en-PK,en,ur"),
    ("PL", "Europe/Warsaw", "pl-PL,pl,en"),
    ("PT", "Europe/Lisbon", "pt-PT,pt,en"),
    ("RO", "Europe/Bucharest", "ro-RO,ro,en"),
    ("RS", "Europe/Belgrade", "sr-RS,sr,en"),
    ("RU", "Europe/Moscow", "ru-RU,ru,en"),
    ("SA", "Asia/Riyadh", "ar-SA,ar,en"),
    ("SE", "Europe/Stockholm", "sv-SE,sv,en"),
    ("SG", "Asia/Singapore", "en-SG,en,zh"),
    ("SI", "Europe/Ljubljana", "sl-SI,sl,en"),
    ("SK", "Europe/Bratislava", "sk-SK,sk,en"),
    ("TH", "Asia/Bangkok", "th-TH,th,en"),
    ("TR", "Europe/Istanbul", "tr-TR,tr,en"),
    ("TW", "Asia/Taipei", "zh-TW,zh,en"),
    ("UA", "Europe/Kyiv", "uk-UA,uk,en"),
    ("US", "America/New_York", "en-US,en"),
    ("VN", "Asia/Ho_Chi_Minh", "vi-VN,vi,en"),
    ("ZA", "Africa/Johannesburg", "en-ZA,en"),
];

/// The locale for an ISO 3166-1 alpha-2 country (any case); UTC and US
/// English when unknown or absent.
pub fn for_country(country: Option<&str>) -> Locale {
    let row = country.and_then(|c| {
        TABLE
            .iter()
            .find(|(cc, _, _)| cc.eq_ignore_ascii_case(c.trim()))
    });
    match row {
        Some((_, tz, langs)) => {
            let languages: Vec<&'static str> = langs.split(',').collect();
            Locale {
                timezone: tz.to_string(),
                locale: languages[0],
                languages,
            }
        }
        None => Locale {
            timezone: "UTC".into(),
            locale: "en-US",
            languages: vec!["en-US", "en"],
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_countries() {
        let de = for_country(Some("de"));
        assert_eq!(de.timezone, "Europe/Berlin");
        assert_eq!(de.locale, "de-DE");
        assert_eq!(de.languages, ["de-DE", "de", "en"]);
        assert_eq!(for_country(Some("XX")).timezone, "UTC");
        assert_eq!(for_country(None).locale, "en-US");
        let mut seen = std::collections::HashSet::new();
        assert!(
            TABLE.iter().all(|(cc, _, _)| seen.insert(*cc)),
            "duplicate country"
        );
    }
}
