//! Publishing `redirects.txt`: one redirect object at each old address, and the ones a
//! shortened map no longer has removed (the keys published are kept in the state store).

use super::*;
use crate::site::redirects::{key_for, page_for, Redirects};

/// The keys published for the redirect map last time.
pub(super) const REDIRECT_KEYS: &str = "redirect-keys.json";

impl Publisher<'_> {
    /// A redirect object, written only when it changed (its page names its target, so the
    /// bytes change exactly when the target does).
    pub(super) async fn put_redirect(
        &mut self,
        key: &str,
        location: &str,
    ) -> Result<(), StoreError> {
        let page = page_for(location);
        let md5 = md5_hex(&page);
        let same = match &self.known {
            Some(k) => k.get(key) == Some(&md5),
            None => self.site.md5(key).await?.as_deref() == Some(md5.as_str()),
        };
        if same {
            self.report.unchanged += 1;
            return Ok(());
        }
        self.site
            .put_redirect(key, page, &object_meta(key), location)
            .await?;
        self.report.written.insert(key.to_string());
        Ok(())
    }
}

impl Builder {
    /// Publish the redirect map (after the site's own pages, which an old address never
    /// replaces). Lines that cannot be used are reported with their number.
    pub(super) async fn publish_redirects(
        &self,
        out: &mut Publisher<'_>,
    ) -> Result<(), StoreError> {
        let text = self
            .stores
            .content
            .get(layout::content::REDIRECTS)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let (map, errors) = Redirects::parse(&text);
        out.report
            .errors
            .extend(errors.into_iter().map(|e| e.to_string()));
        let before: BTreeSet<String> = self
            .load_state::<BTreeSet<String>>(REDIRECT_KEYS)
            .await?
            .unwrap_or_default();
        let mut now = BTreeSet::new();
        for (from, to) in &map.entries {
            let Ok(key) = key_for(from) else { continue };
            if now.contains(&key) {
                continue;
            }
            // A page of the site at that address (not one of our redirects): it stays.
            if !before.contains(&key) && out.exists(&key).await? {
                out.report.errors.push(format!(
                    "redirects.txt: `{from}` is a page of this site; the redirect to `{to}` is not published"
                ));
                continue;
            }
            out.put_redirect(&key, to).await?;
            now.insert(key);
        }
        for gone in before.difference(&now) {
            out.delete(gone).await?;
        }
        if now != before {
            self.save_state(REDIRECT_KEYS, now).await?;
        }
        Ok(())
    }
}
