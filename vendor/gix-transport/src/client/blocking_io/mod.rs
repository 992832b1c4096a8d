///
pub mod connect;

///
pub mod file;
///
#[cfg(feature = "http-client")]
pub mod http;

mod bufread_ext;
pub use bufread_ext::{ExtendedBufRead, HandleProgress, ReadlineBufRead};

mod request;
pub use request::RequestWriter;

///
pub mod ssh;

mod traits;
pub use traits::{SetServiceResponse, Transport, TransportV2Ext};
