//! Valid safetensors files of any size, made a MiB at a time (one U8 tensor): large
//! uploads without large fixtures.

pub(crate) const MIB: usize = 1 << 20;

/// A valid safetensors file of `len` bytes (one U8 tensor), made a MiB at a time: its
/// header, then the chunks of its data.
pub(crate) fn blob(len: usize) -> (Vec<u8>, impl Iterator<Item = Vec<u8>>) {
    const HEADER: usize = 128;
    let data = len - 8 - HEADER;
    let mut json =
        format!(r#"{{"w":{{"dtype":"U8","shape":[{data}],"data_offsets":[0,{data}]}}}}"#);
    while json.len() < HEADER {
        json.push(' ');
    }
    let mut head = (HEADER as u64).to_le_bytes().to_vec();
    head.extend_from_slice(json.as_bytes());
    let chunks = (0..data.div_ceil(MIB)).map(move |i| {
        let n = MIB.min(data - i * MIB);
        (0..n).map(|j| ((i * MIB + j) / 4096 % 251) as u8).collect()
    });
    (head, chunks)
}

/// [`blob`] whole.
pub(crate) fn blob_bytes(len: usize) -> Vec<u8> {
    let (mut head, chunks) = blob(len);
    for chunk in chunks {
        head.extend(chunk);
    }
    head
}
