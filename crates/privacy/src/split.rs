//! Which rules the second, small engine needs. A request judged as a script
//! by the whole list and not blocked can only be blocked as an XHR or image
//! by a rule whose types leave scripts out: every other part of a rule's
//! match (pattern, host, domains, party, scheme, method) is the same for the
//! three types. Exceptions and `$badfilter` rules go to both engines so they
//! act on the rules they name there too.

use adblock::filters::network::{NetworkFilterMask, NetworkFilterMaskHelper};
use adblock::lists::{ParseOptions, ParsedLine, parse_filter};

/// Whether `line` belongs in the engine asked about XHR and images.
pub(crate) fn needed_beside_scripts(line: &str) -> bool {
    let Ok(ParsedLine::Network(filter)) = parse_filter(line, false, ParseOptions::default()) else {
        return false;
    };
    if filter.is_exception() || filter.is_badfilter() {
        return true;
    }
    let blocks = !filter.is_csp()
        && !filter.is_removeparam()
        && (!filter.is_redirect() || filter.also_block_redirect());
    blocks
        && !filter.mask.contains(NetworkFilterMask::FROM_SCRIPT)
        && filter
            .mask
            .intersects(NetworkFilterMask::FROM_XMLHTTPREQUEST | NetworkFilterMask::FROM_IMAGE)
}

#[cfg(test)]
mod tests {
    use super::needed_beside_scripts;

    #[test]
    fn only_rules_that_can_block_xhr_or_images_without_scripts() {
        for (line, needed) in [
            ("||tracker.example^", false),
            ("||tracker.example^$script", false),
            ("||tracker.example^$script,image", false),
            ("||tracker.example^$image", true),
            ("/pixel.gif$image,third-party", true),
            ("||tracker.example^$xmlhttprequest", true),
            ("||tracker.example^$~script", true),
            ("||tracker.example^$stylesheet", false),
            ("@@||tracker.example^$script", true),
            ("@@||ok.example^", true),
            ("||tracker.example^$image,badfilter", true),
            ("##.ad-banner", false),
            ("! comment", false),
            ("", false),
        ] {
            assert_eq!(needed_beside_scripts(line), needed, "{line}");
        }
    }
}
