/// One page of a keyset-paginated list: items after `after`, in the list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: u64,
    /// The sort key of the last item of the previous page.
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items follow: the sort key to continue after.
    pub next_after: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `size + 1` fetched rows: the extra row only says that
    /// another page exists.
    pub(crate) fn from_rows(
        mut items: Vec<T>,
        request: &PageRequest,
        key: impl Fn(&T) -> String,
    ) -> Self {
        let size = usize::try_from(request.size).unwrap_or(usize::MAX);
        let next_after = if items.len() > size {
            items.truncate(size);
            items.last().map(key)
        } else {
            None
        };
        Self { items, next_after }
    }

    pub(crate) fn fetch_limit(request: &PageRequest) -> u64 {
        request.size.saturating_add(1)
    }
}
