//! Client connections and the provided-buffer ring their receives use.
pub mod bufring;
pub mod client;
