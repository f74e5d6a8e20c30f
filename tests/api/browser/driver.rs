//! A real browser for the console tests: Debian's Chromium, headless, driven over
//! WebDriver by chromedriver. Tests act as a person does: fields are found by their
//! labels, buttons and links by their text. Each test saves screenshots of its key
//! screens under `screenshots/<test>/`, and can check a page with axe-core.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Widths every key screen is captured at: a phone and a wide screen.
pub const WIDTHS: [u32; 2] = [390, 1440];
/// How long a wait for a page's content lasts: a loaded two-core CI machine runs
/// the debug server, PostgreSQL and Chromium at once.
const PAGE_WAIT: Duration = Duration::from_secs(15);

/// A browser session and its chromedriver.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    base: String,
    shots: std::path::PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `WebDriver` "Set Permission" (an extension chromedriver implements).
#[derive(Debug)]
struct SetPermission(&'static str);

impl WebDriverCompatibleCommand for SetPermission {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/permissions",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "descriptor": { "name": self.0 }, "state": "granted" }).to_string()),
        )
    }
}

/// WebDriver "Add Virtual Authenticator" (Web Authentication Level 2 §11.3,
/// which chromedriver implements): a passkey authenticator inside the
/// browser, with user verification that always succeeds.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(
                json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserVerified": true,
                    "isUserConsenting": true,
                })
                .to_string(),
            ),
        )
    }
}

impl Browser {
    /// Gives the browser a virtual passkey authenticator.
    pub async fn add_virtual_authenticator(&self) {
        self.client
            .issue_cmd(AddVirtualAuthenticator)
            .await
            .expect("chromedriver adds a virtual authenticator");
    }

    /// The value of a cookie of the site.
    pub async fn cookie(&self, name: &str) -> String {
        self.client
            .get_named_cookie(name)
            .await
            .expect("the cookie is set")
            .value()
            .to_owned()
    }

    /// Starts chromedriver and a fresh headless Chromium pointed at `base`.
    pub async fn open(base: &str, test: &str) -> Browser {
        Self::launch(base, test, false).await
    }

    /// The same, with the system asking for dark pages.
    pub async fn open_dark(base: &str, test: &str) -> Browser {
        Self::launch(base, test, true).await
    }

    async fn launch(base: &str, test: &str, dark: bool) -> Browser {
        assert!(
            std::path::Path::new(CHROMIUM).exists(),
            "Chromium is installed (.ci/run installs chromium and chromium-driver)"
        );
        let port = free_port();
        // Its own process group, so Chromium's processes end with it even when a
        // test fails before closing the session.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic", "--window-size=1440,900",
                    // Blink's preferred colour scheme: 0 is dark, 1 light.
                    format!("--blink-settings=preferredColorScheme={}", if dark { 0 } else { 1 }),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut client = None;
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let client = client.expect("a WebDriver session");
        let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("screenshots")
            .join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client,
            driver,
            _profile: profile,
            base: base.to_owned(),
            shots,
        }
    }

    /// Opens a path of the site.
    pub async fn go(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// The path of the current page.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.client
            .execute("return document.body.innerText", vec![])
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML as it is now.
    pub async fn html(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// The form control labelled `label` (by its `<label for>`, or the label around it).
    pub async fn field(&self, label: &str) -> Element {
        let xpath = format!("//label[normalize-space(.)={}]", xpath_literal(label));
        let found = self
            .client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|_| panic!("a label {label:?}"));
        match found.attr("for").await.unwrap() {
            Some(id) => self
                .client
                .find(Locator::Id(&id))
                .await
                .unwrap_or_else(|_| panic!("the control of {label:?}")),
            None => found
                .find(Locator::Css("input, select, textarea"))
                .await
                .unwrap(),
        }
    }

    /// Types `value` into the field labelled `label`, replacing what was there.
    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Ticks (or unticks) the checkbox or radio labelled `label`.
    pub async fn check(&self, label: &str, on: bool) {
        let field = self.field(label).await;
        let checked = field.prop("checked").await.unwrap().as_deref() == Some("true");
        if checked != on {
            field.click().await.unwrap();
        }
    }

    /// Chooses the option with text `option` in the select labelled `label`.
    pub async fn select(&self, label: &str, option: &str) {
        let field = self.field(label).await;
        field.select_by_label(option).await.unwrap();
    }

    /// The visible button or link whose text is `text`.
    pub async fn control(&self, text: &str) -> Element {
        let t = xpath_literal(text);
        let xpath = format!(
            "//button[normalize-space(.)={t}] | //a[normalize-space(.)={t}] | //summary[normalize-space(.)={t}]"
        );
        // A page still loading on a busy machine gets up to the page wait.
        let deadline = std::time::Instant::now() + PAGE_WAIT;
        loop {
            for element in self.client.find_all(Locator::XPath(&xpath)).await.unwrap() {
                // What a person sees: displayed, and not hidden from them on purpose.
                let hidden =
                    element.attr("aria-hidden").await.ok().flatten().as_deref() == Some("true");
                if !hidden && element.is_displayed().await.unwrap_or(false) {
                    return element;
                }
            }
            if std::time::Instant::now() > deadline {
                panic!("a visible button or link {text:?} on {}", self.path().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the visible button or link whose text is `text`.
    pub async fn click(&self, text: &str) {
        self.control(text).await.click().await.unwrap();
    }

    /// Clicks the button or link whose accessible name (`aria-label`) is
    /// `label`: a row's action, whose visible text repeats on every row.
    pub async fn click_labelled(&self, label: &str) {
        let xpath = format!(
            "//button[@aria-label={t}] | //a[@aria-label={t}]",
            t = xpath_literal(label)
        );
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|_| panic!("a button or link labelled {label:?}"))
            .click()
            .await
            .unwrap();
    }

    /// The id of the element that has the keyboard focus.
    pub async fn focused(&self) -> String {
        self.client
            .execute(
                "return document.activeElement ? document.activeElement.id : ''",
                vec![],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// After a refused form: the focus is on the error summary at the top
    /// (the GOV.UK pattern), which lists `message` as a link; following it puts
    /// the focus on the control `control` (a group's first choice for a
    /// fieldset).
    pub async fn error_summary_leads_to(&self, message: &str, control: &str) {
        self.wait_for_text("There is a problem").await;
        assert_eq!(
            self.focused().await,
            "error-summary",
            "the focus is on the error summary of {}",
            self.path().await
        );
        let xpath = format!(
            "//*[@id='error-summary']//a[contains(normalize-space(.), {})]",
            xpath_literal(message)
        );
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|_| panic!("the error summary lists {message:?}"))
            .click()
            .await
            .unwrap();
        assert_eq!(
            self.focused().await,
            control,
            "the summary's link leads to the field"
        );
    }

    /// Opens the group `summary` of the scope checkboxes.
    pub async fn expand(&self, group: &str) {
        let xpath = format!(
            "//summary[.//*[normalize-space(.)={}]]",
            xpath_literal(group)
        );
        for summary in self.client.find_all(Locator::XPath(&xpath)).await.unwrap() {
            let open = summary
                .find(Locator::XPath(".."))
                .await
                .unwrap()
                .attr("open")
                .await
                .unwrap()
                .is_some();
            if !open && summary.is_displayed().await.unwrap_or(false) {
                summary.click().await.unwrap();
            }
        }
    }

    /// What the clipboard holds (reading it needs a permission, for this page's origin).
    pub async fn clipboard(&self) -> String {
        let granted = self.client.issue_cmd(SetPermission("clipboard-read")).await;
        assert!(
            granted.is_ok(),
            "chromedriver grants clipboard-read: {granted:?}"
        );
        let value = self
            .client
            .execute_async("const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('ERR ' + e));", vec![])
            .await
            .unwrap();
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Saves the page at a phone's and a wide screen's width, whole, as PNGs.
    pub async fn shot(&self, name: &str) {
        for width in WIDTHS {
            self.client.set_window_size(width, 900).await.unwrap();
            let height = self
                .client
                .execute(
                    "return Math.min(document.documentElement.scrollHeight, 5000)",
                    vec![],
                )
                .await
                .unwrap()
                .as_u64()
                .unwrap_or(900);
            self.client
                .set_window_size(width, u32::try_from(height.max(600)).unwrap_or(900))
                .await
                .unwrap();
            let overflow = self
                .client
                .execute(
                    "return document.documentElement.scrollWidth - window.innerWidth",
                    vec![],
                )
                .await
                .unwrap()
                .as_i64()
                .unwrap_or(0);
            assert!(
                overflow <= 0,
                "{name} at {width}px is {overflow}px wider than the window"
            );
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(self.shots.join(format!("{name}-{width}.png")), png).unwrap();
        }
        self.client.set_window_size(1440, 900).await.unwrap();
    }

    /// Runs axe-core on the page; fails on any serious or critical violation.
    pub async fn check_accessibility(&self, page: &str) {
        let axe = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/browser/node_modules/axe-core/axe.min.js"
        ))
        .expect("axe-core is installed: npm ci --prefix tests/browser");
        self.client.execute(&axe, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[0]; axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations), e => done('ERR ' + e));",
                vec![],
            )
            .await
            .unwrap();
        let bad: Vec<&Value> = result
            .as_array()
            .unwrap_or_else(|| panic!("axe ran on {page}: {result}"))
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        let report: Vec<String> = bad
            .iter()
            .map(|v| {
                let targets: Vec<String> = v["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n["target"].to_string())
                    .collect();
                format!("{} ({}): {}", v["id"], v["impact"], targets.join(" "))
            })
            .collect();
        assert!(
            bad.is_empty(),
            "accessibility violations on {page}:\n{}",
            report.join("\n")
        );
    }

    /// Waits (briefly) until the page's text contains `needle`.
    pub async fn wait_for_text(&self, needle: &str) {
        // Up to 15 s: a loaded two-core CI machine runs the debug server,
        // PostgreSQL and Chromium at once.
        for _ in 0..150 {
            if self.text().await.contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{needle:?} never appeared on {}:\n{}",
            self.path().await,
            self.text().await
        );
    }

    /// Waits until the address (path and query) contains `needle`: for a
    /// navigation whose new page shares its text with the old one.
    pub async fn wait_for_path(&self, needle: &str) {
        for _ in 0..150 {
            if self.path().await.contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the address never contained {needle:?}: {}",
            self.path().await
        );
    }

    /// Waits until the address no longer starts with `prefix`: for a form
    /// whose answer is a redirect elsewhere (signing in), so that the next
    /// navigation does not overtake it.
    pub async fn wait_to_leave(&self, prefix: &str) {
        for _ in 0..150 {
            if !self.path().await.starts_with(prefix) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("still on {}", self.path().await);
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        // Drop ends chromedriver and whatever is left of the browser.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium it started.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn xpath_literal(s: &str) -> String {
    if s.contains('\'') {
        format!("\"{s}\"")
    } else {
        format!("'{s}'")
    }
}
