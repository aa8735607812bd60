//! The scenarios of a signed-in user. Each connection is a browser of its own, signed in
//! once before any scenario runs ([`sign_in`]); the scenarios then share those browsers,
//! connection `i` always using browser `i`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::browser::{Browser, User, WebApp};
use crate::load::{BoxFuture, Connection, Failure, Scenario};

/// `count` browsers, each with a session of `user`.
///
/// One after another: concurrent sign-ins of one username are concurrent attempts against
/// its failed sign-in throttle, which refuses the ones past its limit while the others
/// are still being verified.
pub async fn sign_in(
    issuer: &str,
    app: Arc<WebApp>,
    user: &User,
    count: usize,
) -> Result<Arc<[Browser]>, Failure> {
    let mut browsers = Vec::with_capacity(count);
    for _ in 0..count {
        let browser = Browser::new(issuer, app.clone())?;
        browser
            .sign_in(user)
            .await
            .map_err(|e| format!("signing in: {e}"))?;
        browsers.push(browser);
    }
    Ok(browsers.into())
}

fn browser(browsers: &[Browser], index: usize) -> Result<Browser, Failure> {
    if browsers.is_empty() {
        return Err("no signed-in browser".into());
    }
    Ok(browsers[index % browsers.len()].clone())
}

/// Authorization request with the session cookie, answered at once with a code (a
/// first-party client asks no consent), then the code exchange: one iteration is the
/// whole flow.
pub struct CodeFlow(pub Arc<[Browser]>);

impl Scenario for CodeFlow {
    fn connect(&self, index: usize) -> BoxFuture<'_, Result<Box<dyn Connection>, Failure>> {
        let connection = browser(&self.0, index)
            .map(|browser| Box::new(CodeFlowConnection(browser)) as Box<dyn Connection>);
        Box::pin(std::future::ready(connection))
    }
}

struct CodeFlowConnection(Browser);

impl Connection for CodeFlowConnection {
    fn iterate(&mut self) -> BoxFuture<'_, Result<(), Failure>> {
        Box::pin(async move { self.0.code_flow("openid").await.map(drop) })
    }
}

/// The refresh token grant. Refresh tokens rotate at every use and a replaced one that
/// comes back revokes its family, so each connection chains its own, from a code flow of
/// its own.
pub struct Refresh(pub Arc<[Browser]>);

impl Scenario for Refresh {
    fn connect(&self, index: usize) -> BoxFuture<'_, Result<Box<dyn Connection>, Failure>> {
        Box::pin(async move {
            let browser = browser(&self.0, index)?;
            let token = new_chain(&browser).await?;
            Ok(Box::new(RefreshConnection { browser, token }) as Box<dyn Connection>)
        })
    }
}

struct RefreshConnection {
    browser: Browser,
    /// The latest refresh token of this connection's chain.
    token: String,
}

impl Connection for RefreshConnection {
    fn iterate(&mut self) -> BoxFuture<'_, Result<(), Failure>> {
        Box::pin(async move {
            match self.browser.refresh(&self.token).await {
                Ok(tokens) => {
                    self.token = tokens
                        .refresh_token
                        .ok_or("no refresh token in the refresh response")?;
                    match tokens.id_token {
                        Some(_) => Ok(()),
                        None => {
                            Err("no id_token in the refresh response of an openid grant".into())
                        }
                    }
                }
                Err(failure) => {
                    // The chain may be broken (its family revoked, or a rotation whose
                    // answer was lost): start another, in this already failed iteration.
                    if let Ok(token) = new_chain(&self.browser).await {
                        self.token = token;
                    }
                    Err(failure)
                }
            }
        })
    }
}

/// A refresh token from a code flow of `browser`, scope `openid` so that each refresh
/// signs an ID token too.
async fn new_chain(browser: &Browser) -> Result<String, Failure> {
    browser
        .code_flow("openid")
        .await?
        .refresh_token
        .ok_or_else(|| "no refresh token from the code exchange".into())
}

/// The UserInfo endpoint with the access token of a code flow (scope `openid profile`).
pub struct Userinfo(pub Arc<[Browser]>);

impl Scenario for Userinfo {
    fn connect(&self, index: usize) -> BoxFuture<'_, Result<Box<dyn Connection>, Failure>> {
        Box::pin(async move {
            let browser = browser(&self.0, index)?;
            let access_token = browser.code_flow("openid profile").await?.access_token;
            Ok(Box::new(UserinfoConnection {
                browser,
                access_token,
            }) as Box<dyn Connection>)
        })
    }
}

struct UserinfoConnection {
    browser: Browser,
    access_token: String,
}

impl Connection for UserinfoConnection {
    fn iterate(&mut self) -> BoxFuture<'_, Result<(), Failure>> {
        Box::pin(async move { self.browser.userinfo(&self.access_token).await })
    }
}

/// Password sign-in, from a browser with no session: the authorization request, the
/// sign-in page, the form posted with the right password, and the redirect with a code.
/// Each iteration is a new browser (a cookie jar of its own, so no session carries over);
/// connection `i` signs in as user `i`, so that no two connections meet in the
/// per-username throttle, from an address of its own (127.0.0.2 and up, all loopback):
/// the throttle counts an attempt from its admission until it succeeds, so 64 sign-ins
/// in flight from one address would be throttled as 64 failures are. Real sign-ins come
/// from many addresses.
pub struct PasswordSignIn {
    pub issuer: String,
    pub app: Arc<WebApp>,
    pub users: Arc<[User]>,
}

impl Scenario for PasswordSignIn {
    fn connect(&self, index: usize) -> BoxFuture<'_, Result<Box<dyn Connection>, Failure>> {
        let connection = if self.users.is_empty() {
            Err("no user to sign in".into())
        } else {
            Ok(Box::new(PasswordSignInConnection {
                issuer: self.issuer.clone(),
                app: self.app.clone(),
                users: self.users.clone(),
                user: index % self.users.len(),
                index,
            }) as Box<dyn Connection>)
        };
        Box::pin(std::future::ready(connection))
    }
}

struct PasswordSignInConnection {
    issuer: String,
    app: Arc<WebApp>,
    users: Arc<[User]>,
    /// Which user this connection signs in.
    user: usize,
    index: usize,
}

impl Connection for PasswordSignInConnection {
    fn iterate(&mut self) -> BoxFuture<'_, Result<(), Failure>> {
        Box::pin(async move {
            let address = loopback(self.index);
            Browser::from_address(&self.issuer, self.app.clone(), Some(address))?
                .sign_in(&self.users[self.user])
                .await
        })
    }
}

/// 127.0.0.2 and on, one per connection `index`.
fn loopback(index: usize) -> IpAddr {
    let n = u32::try_from(index).unwrap_or(0) % 0x00ff_fffd + 2;
    IpAddr::V4(Ipv4Addr::from(0x7f00_0000 + n))
}
