//! List flags shared by every `list` command, and the loop that follows `next_page_token`.

use std::future::Future;

use crate::error::CliError;
use crate::output::note;

/// How much of a list to fetch.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PageArgs {
    /// Results per request, 1 to 1000 (default: the server's, usually 50)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub page_size: Option<i32>,
    /// Continue from the page token printed by an earlier list
    #[arg(long, value_name = "TOKEN")]
    pub page_token: Option<String>,
    /// Follow next_page_token until every result is listed
    #[arg(long)]
    pub all: bool,
}

/// One response of a list RPC.
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next_page_token: String,
}

/// Fetches one page, or every page with `--all`. `fetch` gets the page size (0 for the
/// server's default) and the page token of the request. Without `--all`, a further page
/// is mentioned on stderr with the flag that fetches it.
pub(crate) async fn collect<T, F, Fut>(args: &PageArgs, mut fetch: F) -> Result<Vec<T>, CliError>
where
    F: FnMut(i32, String) -> Fut,
    Fut: Future<Output = Result<Page<T>, tonic::Status>>,
{
    let page_size = args.page_size.unwrap_or(0);
    let mut page_token = args.page_token.clone().unwrap_or_default();
    let mut items = Vec::new();
    loop {
        let page = fetch(page_size, page_token.clone()).await?;
        items.extend(page.items);
        // The second test guards against a server that hands back the same token forever.
        if page.next_page_token.is_empty() || page.next_page_token == page_token {
            return Ok(items);
        }
        if !args.all {
            note(&format!(
                "More results: pass --all, or --page-token {}",
                page.next_page_token
            ));
            return Ok(items);
        }
        page_token = page.next_page_token;
    }
}
