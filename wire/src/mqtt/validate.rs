//! The string rules of §1.5.4 and the topic rules of §4.7, for the
//! decoder and for the broker (which checks filters per SUBSCRIBE entry).

/// `b` as a `&str` if it is an MQTT UTF-8 string: valid UTF-8 (which
/// already excludes surrogates and overlong forms) without U+0000
/// [MQTT-1.5.4-2]. Other control characters and non-characters are
/// allowed by the spec (a receiver MAY refuse them); we accept them.
pub fn mqtt_str(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    if s.contains('\0') {
        return None;
    }
    Some(s)
}

/// Whether `s` may be a PUBLISH topic name: not empty, no `+` or `#`
/// [MQTT-3.3.2-2]. (MQTT 5 allows an empty name with a Topic Alias; the
/// decoder handles that case before asking.)
pub fn topic_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(['+', '#'])
}

/// Whether `s` is a valid topic filter: not empty, `+` only as a whole
/// level, `#` only as the whole last level [MQTT-4.7.1-1, 4.7.1-2].
pub fn topic_filter(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut levels = s.split('/').peekable();
    while let Some(level) = levels.next() {
        match level {
            "#" => return levels.peek().is_none(),
            "+" => {}
            _ if level.contains(['+', '#']) => return false,
            _ => {}
        }
    }
    true
}

/// A shared subscription `$share/{group}/{filter}` (MQTT 5 §4.8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    /// The share name: at least one character, no `/`, `+` or `#`.
    pub group: &'a str,
    /// The topic filter proper.
    pub filter: &'a str,
}

/// Why a `$share/` filter is not valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareError {
    /// Empty share name, or one holding `+` or `#`.
    BadGroup,
    /// No `/` and filter after the share name, or an invalid filter.
    BadFilter,
}

/// `Ok(None)` for an ordinary filter, `Ok(Some(..))` for a valid shared
/// one, `Err` for a `$share/` filter that breaks the rules.
pub fn shared_filter(s: &str) -> Result<Option<SharedFilter<'_>>, ShareError> {
    let Some(rest) = s.strip_prefix("$share/") else {
        return Ok(None);
    };
    let (group, filter) = match rest.split_once('/') {
        Some(parts) => parts,
        None if rest.is_empty() || rest.contains(['+', '#']) => return Err(ShareError::BadGroup),
        None => return Err(ShareError::BadFilter),
    };
    if group.is_empty() || group.contains(['+', '#']) {
        return Err(ShareError::BadGroup);
    }
    if !topic_filter(filter) {
        return Err(ShareError::BadFilter);
    }
    Ok(Some(SharedFilter { group, filter }))
}

/// Whether topic name `topic` matches topic filter `filter` (§4.7): `+`
/// is one level, a last `#` is the parent level and everything below,
/// and a topic starting with `$` is not matched by a filter starting with
/// a wildcard [MQTT-4.7.2-1]. Both arguments are assumed valid.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut t = topic.split('/');
    for f in filter.split('/') {
        match (f, t.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (f, Some(level)) if f == level => {}
            _ => return false,
        }
    }
    t.next().is_none()
}
