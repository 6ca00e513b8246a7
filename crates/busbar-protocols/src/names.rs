//! Lists of field names a translation left out (`x-busbar-dropped`, the
//! decoders' unsupported fields): each name once, in the order first met.

/// Appends `name` unless `names` already holds it.
pub(crate) fn push_once(names: &mut Vec<&'static str>, name: &'static str) {
    if !names.contains(&name) {
        names.push(name);
    }
}

/// Removes repeated names, keeping the first of each.
pub(crate) fn dedup(names: &mut Vec<&'static str>) {
    let mut seen = Vec::with_capacity(names.len());
    names.retain(|name| {
        let new = !seen.contains(name);
        if new {
            seen.push(*name);
        }
        new
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_in_first_met_order_once_each() {
        let mut names = vec!["a", "b", "a", "c", "b"];
        dedup(&mut names);
        assert_eq!(names, ["a", "b", "c"]);
        push_once(&mut names, "b");
        push_once(&mut names, "d");
        assert_eq!(names, ["a", "b", "c", "d"]);
    }
}
