//! The appliance image context the CLI carries: `images/appliance` and the
//! static `coold` embedded by `build.rs`.

/// The appliance Containerfile (FROM scratch, coold only).
pub const CONTAINERFILE: &str = include_str!("../../../images/appliance/Containerfile");

/// The static coold binary and its sha256, when this CLI was built with one.
pub struct EmbeddedCoold {
    pub bytes: &'static [u8],
    pub sha256: &'static str,
}

#[cfg(coolify_embedded_coold)]
pub fn coold() -> Option<EmbeddedCoold> {
    Some(EmbeddedCoold {
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/coold.bin")),
        sha256: include_str!(concat!(env!("OUT_DIR"), "/coold.sha256")),
    })
}

#[cfg(not(coolify_embedded_coold))]
pub fn coold() -> Option<EmbeddedCoold> {
    None
}
