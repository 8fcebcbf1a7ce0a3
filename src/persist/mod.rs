//! Persistence. For now only `propagate`, the single exit of every data change (DESIGN §5);
//! the AOF and RDB writers consume its stream.
pub mod propagate;
