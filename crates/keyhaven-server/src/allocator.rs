//! The binaries' allocator is mimalloc (see the workspace manifest); this is the one thing
//! asked of it beyond allocating.

/// Gives what the calling thread freed back to the operating system now. mimalloc purges
/// freed memory lazily, on a later allocation of the same thread, so a password hashing
/// thread that goes idle after a sign-in would otherwise keep its 19 MiB argon2id block
/// resident until its next sign-in. Meant for [`crate::Dependencies::release_memory`] of a
/// binary whose global allocator is mimalloc.
#[allow(unsafe_code)]
pub fn release_freed_memory() {
    // SAFETY: `mi_collect` takes no pointer and may be called on any thread at any time;
    // `force` also purges what mimalloc would have purged after its delay.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
