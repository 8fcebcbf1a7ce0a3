//! RESP: the request parser and the reply writer.
pub mod parser;
pub mod writer;

pub use parser::{ParseLimits, Parsed, RequestParser, parse_i64, split_args};
pub use writer::{Out, fmt_double, fmt_g17};
