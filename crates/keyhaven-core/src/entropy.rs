//! Randomness as a value handed in, like time: production reads the operating system's
//! generator at the edge; tests may hand in their own.

pub trait Entropy: Send + Sync + 'static {
    fn fill(&self, buf: &mut [u8]);
}
