//! A real browser for the UI tests: Debian's headless Chromium driven over WebDriver by
//! `chromedriver` (packages `chromium` and `chromium-driver`, installed by `.ci/run`),
//! through `fantoccini`. Each [`Browser`] starts its own chromedriver on a free port and
//! one browser session, both ended when it is dropped.
//!
//! Without `chromedriver` a test skips with a notice, except under `CI`, where it fails.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// Where Debian puts the driver (`CAPSTAN_CHROMEDRIVER` overrides).
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long an element or a page state may take to appear.
pub const WAIT: Duration = Duration::from_secs(10);

/// A browser session and the chromedriver behind it.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

/// Headless Chromium's arguments, with `window`.
fn chrome_args(window: &str) -> serde_json::Value {
    json!([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        window,
    ])
}

fn chromedriver() -> String {
    std::env::var("CAPSTAN_CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.to_owned())
}

impl Browser {
    /// A fresh headless session `width` CSS pixels wide (at least 500: Chromium's
    /// narrowest window), or `None` (the test skips) when there is no chromedriver outside
    /// CI.
    pub async fn start(test: &str, width: u32) -> Option<Browser> {
        let window = json!({
            "args": chrome_args(&format!("--window-size={width},900")),
        });
        Self::start_with(test, window).await
    }

    /// A session whose page is `width` CSS pixels wide drawn with `pixel_ratio` screen
    /// pixels to each: a phone (390, 3), or a 1280-pixel screen at 400% zoom (320, 4).
    /// Chromium's device emulation sets the viewport; a window cannot be that narrow.
    pub async fn start_narrow(test: &str, width: u32, pixel_ratio: f64) -> Option<Browser> {
        let emulated = json!({
            "args": chrome_args("--window-size=600,900"),
            "mobileEmulation": {"deviceMetrics": {
                "width": width, "height": 900, "pixelRatio": pixel_ratio,
                "mobile": false, "touch": false,
            }},
        });
        Self::start_with(test, emulated).await
    }

    async fn start_with(test: &str, chrome_options: serde_json::Value) -> Option<Browser> {
        let driver_path = chromedriver();
        if !std::path::Path::new(&driver_path).exists() {
            assert!(
                std::env::var("CI").is_err(),
                "CI must install chromium and chromium-driver (see .ci/run)"
            );
            eprintln!(
                "{test}: no {driver_path}: skipping (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = crate::free_address().port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver_path}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), chrome_options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"));
        Some(Browser { client, driver })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The element `css` selects, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css:?}: {e}"))
    }

    /// Follows the link whose text is `text` (a real `<a href>`), waiting for it.
    pub async fn click_link(&self, text: &str) {
        self.retry_stale(|| async {
            let link = self
                .client
                .wait()
                .at_most(WAIT)
                .for_element(Locator::LinkText(text))
                .await
                .unwrap_or_else(|e| panic!("no link {text:?}: {e}"));
            link.click().await
        })
        .await
        .unwrap_or_else(|e| panic!("cannot follow the link {text:?}: {e}"));
    }

    /// Clicks the element `css` selects, waiting for it.
    pub async fn click(&self, css: &str) {
        self.retry_stale(|| async { self.find(css).await.click().await })
            .await
            .unwrap_or_else(|e| panic!("cannot click {css:?}: {e}"));
    }

    /// Types `value` into the field labelled by `<label for=id>`.
    pub async fn fill(&self, id: &str, value: &str) {
        self.retry_stale(|| async {
            let field = self.find(&format!("#{id}")).await;
            field.clear().await?;
            field.send_keys(value).await
        })
        .await
        .unwrap_or_else(|e| panic!("cannot fill #{id}: {e}"));
    }

    /// Runs `act` again while it meets an element the page has replaced since it was
    /// found (a live update swapping `<main>`, a navigation finishing), for up to [`WAIT`].
    async fn retry_stale<F, Fut>(&self, act: F) -> Result<(), CmdError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), CmdError>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            match act().await {
                Err(e) if e.is_stale_element_reference() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                done => return done,
            }
        }
    }

    /// The visible text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Waits until the text of `css` contains `wanted`; returns it.
    pub async fn wait_for_text(&self, css: &str, wanted: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(wanted) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css:?} never said {wanted:?}; it says {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's path no longer starts with `prefix` (a form sent, the next
    /// page loaded); returns the new path and query.
    pub async fn wait_to_leave(&self, prefix: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let path = self.path().await;
            if !path.starts_with(prefix) {
                self.find("main").await;
                return path;
            }
            assert!(Instant::now() < deadline, "still on {path}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the page's path and query contain `wanted` (a form sent by GET, its
    /// answer loaded); returns them.
    pub async fn wait_for_path(&self, wanted: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let path = self.path().await;
            if path.contains(wanted) {
                self.find("main").await;
                return path;
            }
            assert!(Instant::now() < deadline, "{path} never held {wanted:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page's path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Saves a PNG of the window to `docs/ui/<name>.png` when `CAPSTAN_UI_SCREENSHOTS` is
    /// set (`scripts/ui-screenshots.sh`); otherwise nothing.
    pub async fn screenshot(&self, name: &str) {
        if std::env::var_os("CAPSTAN_UI_SCREENSHOTS").is_none() {
            return;
        }
        let png = self.client.screenshot().await.unwrap();
        let dir = crate::example::workspace_root().join("docs/ui");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the session (the driver is stopped on drop).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
