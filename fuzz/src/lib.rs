//! Shared helpers of the fuzz targets: turning one fuzz input into a payload and a chunking.

/// Splits a fuzz input into (payload, chunk lengths): the first byte says how many of the next
/// bytes are chunk lengths (at most 16); the rest is the payload. Lengths are 1..=64 and are
/// used cyclically.
pub fn split_input(data: &[u8]) -> (&[u8], Vec<usize>) {
    let Some((&n, rest)) = data.split_first() else {
        return (&[], vec![1]);
    };
    let n = usize::from(n % 17).min(rest.len());
    let (sizes, payload) = rest.split_at(n);
    let mut sizes: Vec<usize> = sizes.iter().map(|&b| usize::from(b % 64) + 1).collect();
    if sizes.is_empty() {
        sizes.push(usize::MAX);
    }
    (payload, sizes)
}

/// The payload cut into pieces of the given lengths (cyclically).
pub fn pieces<'a>(payload: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = payload;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
        i += 1;
    }
    out
}
