//! Newtypes for identifiers, so a proxy id can never be passed where a tab id
//! or rule id is expected. All are the store's integer row ids.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($label, " {}"), self.0)
            }
        }
    };
}

id_type!(
    /// A proxy in the pool.
    ProxyId,
    "proxy"
);
id_type!(
    /// A browser tab (or any client connection key the gateway tracks).
    TabId,
    "tab"
);
id_type!(
    /// A custom rotation rule.
    RuleId,
    "rule"
);
id_type!(
    /// A rotation config.
    ConfigId,
    "rotation config"
);
id_type!(
    /// A credential in the vault; the engine only ever holds the reference.
    CredentialRef,
    "credential"
);
