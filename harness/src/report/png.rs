//! Just enough PNG decoding to tell a rendered report from a blank page: the number of distinct
//! colours of an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium's `--screenshot` writes).
//! PNG: RFC 2083 (chunks §3, filters §6, zlib-compressed IDAT §5).

use std::collections::HashSet;
use std::io::Read;

/// Distinct RGB colours of a PNG image.
pub fn distinct_colours(png: &[u8]) -> Result<usize, String> {
    const SIG: &[u8] = b"\x89PNG\r\n\x1a\n";
    let mut rest = png.strip_prefix(SIG).ok_or("not a PNG")?;
    let (mut width, mut height, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    while rest.len() >= 12 {
        let (len_b, r) = rest.split_at(4);
        let len = u32::from_be_bytes(len_b.try_into().map_err(|_| "truncated")?) as usize;
        let (kind, r) = r.split_at(4);
        let data = r.get(..len).ok_or("truncated chunk")?;
        rest = r.get(len + 4..).ok_or("truncated chunk")?;
        match kind {
            b"IHDR" => {
                let b = |i: usize| data.get(i).copied().ok_or("short IHDR");
                width = u32::from_be_bytes([b(0)?, b(1)?, b(2)?, b(3)?]) as usize;
                height = u32::from_be_bytes([b(4)?, b(5)?, b(6)?, b(7)?]) as usize;
                let (depth, colour, interlace) = (b(8)?, b(9)?, b(12)?);
                channels = match colour {
                    2 => 3,
                    6 => 4,
                    other => return Err(format!("colour type {other} not supported")),
                };
                if depth != 8 || interlace != 0 {
                    return Err("only 8-bit non-interlaced PNGs are supported".into());
                }
            }
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(idat.as_slice())
        .read_to_end(&mut raw)
        .map_err(|e| format!("bad image data: {e}"))?;
    let stride = width * channels;
    let mut prev = vec![0u8; stride];
    let mut colours = HashSet::new();
    for row in raw.chunks(stride + 1).take(height) {
        let (&filter, line) = row.split_first().ok_or("empty row")?;
        if line.len() != stride {
            return Err("short row".into());
        }
        let mut cur = vec![0u8; stride];
        for i in 0..stride {
            let a = if i >= channels { cur[i - channels] } else { 0 };
            let b = prev[i];
            let c = if i >= channels { prev[i - channels] } else { 0 };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => paeth(a, b, c),
                f => return Err(format!("filter {f}")),
            };
            cur[i] = line[i].wrapping_add(pred);
        }
        for px in cur.chunks(channels) {
            if let [r, g, b, ..] = px {
                colours.insert([*r, *g, *b]);
            }
        }
        prev = cur;
    }
    Ok(colours.len())
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&[0, 0, 0, 0]); // CRC is not checked.
    }

    #[test]
    fn counts_colours_of_a_filtered_rgb_image() {
        // 2x2 RGB: row 0 unfiltered red, green; row 1 "up" filter: same as row 0 plus blue in
        // the second pixel.
        let rows: Vec<u8> = vec![
            0, 255, 0, 0, 0, 255, 0, //
            2, 0, 0, 0, 0, 0, 255, //
        ];
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&rows).expect("compress");
        let idat = z.finish().expect("finish");
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut png, b"IHDR", &[0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0]);
        chunk(&mut png, b"IDAT", &idat);
        chunk(&mut png, b"IEND", &[]);
        // red, green, and green+blue (0,255,255): 3 colours.
        assert_eq!(distinct_colours(&png), Ok(3));
        assert!(distinct_colours(b"GIF89a").is_err());
    }
}
