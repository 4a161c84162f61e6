//! Photos: responsive variants (several widths, JPEG and WebP) made when a photo is uploaded,
//! and the facts the renderer needs about them (size, variant keys) kept in the photo index.
//! Pure: bytes in, bytes out. Re-encoding also drops EXIF metadata (camera GPS positions).

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use serde::{Deserialize, Serialize};

/// Widths made for every photo (narrower ones only when the original is wider).
pub const VARIANT_WIDTHS: [u32; 3] = [480, 960, 1600];
const JPEG_QUALITY: u8 = 82;
const WEBP_QUALITY: f32 = 78.0;
/// Decompression-bomb guard: no side over this many pixels.
const MAX_SIDE: u32 = 12_000;

pub fn is_photo_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    [".jpg", ".jpeg", ".png", ".webp"]
        .iter()
        .any(|e| lower.ends_with(e))
        && key.len() > "photos/".len() + 4
        // As for static files: a name with `..` or an empty segment could name a file
        // outside the photos folder where keys are paths (the local folders).
        && !key.split('/').any(|s| s == ".." || s.is_empty())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub width: u32,
    pub height: u32,
    /// Site keys.
    pub jpeg: String,
    pub webp: String,
}

/// What the renderer knows of a photo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoInfo {
    /// Content key, e.g. `photos/south bank campus.jpg`.
    pub key: String,
    pub md5: String,
    /// The content store's fingerprint of the original when processed (see
    /// `BlobStore::fingerprints`): a full build redoes only photos whose fingerprint moved.
    #[serde(default)]
    pub source: String,
    pub width: u32,
    pub height: u32,
    /// Narrowest first.
    pub variants: Vec<Variant>,
}

impl PhotoInfo {
    /// The variant to use as `src`: the widest not over `max_width`, else the narrowest.
    pub fn fallback(&self, max_width: u32) -> &Variant {
        self.variants
            .iter()
            .rev()
            .find(|v| v.width <= max_width)
            .unwrap_or(&self.variants[0])
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct PhotoError {
    pub key: String,
    pub message: String,
}

/// `south bank campus.jpg` → `south-bank-campus`.
fn stem_slug(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
    let mut out = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "photo".into()
    } else {
        out
    }
}

/// A key in the site store and the bytes to put there.
pub type SiteObject = (String, Vec<u8>);

/// Decode a photo and make its variants. Returns the index entry and the site objects
/// (key, bytes) to write. Variant names carry a hash of the source, so they can be cached
/// for ever and a replaced photo gets new names.
pub fn make_variants(key: &str, bytes: &[u8]) -> Result<(PhotoInfo, Vec<SiteObject>), PhotoError> {
    let err = |m: String| PhotoError {
        key: key.to_string(),
        message: m,
    };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| err(format!("not an image we can read: {e}")))?;
    let orientation = decoder.orientation().map_err(|e| err(e.to_string()))?;
    let mut img =
        DynamicImage::from_decoder(decoder).map_err(|e| err(format!("cannot decode: {e}")))?;
    img.apply_orientation(orientation);
    let img = DynamicImage::ImageRgb8(img.to_rgb8());
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err(err("the image is empty".into()));
    }
    let md5 = crate::ports::md5_hex(bytes);
    let tag = &md5[..10];
    let slug = stem_slug(key);

    let mut widths: Vec<u32> = VARIANT_WIDTHS
        .iter()
        .copied()
        .filter(|&vw| vw < w)
        .collect();
    if widths.len() < VARIANT_WIDTHS.len() {
        widths.push(w.min(*VARIANT_WIDTHS.last().unwrap()));
    }
    widths.dedup();

    let mut variants = Vec::new();
    let mut objects = Vec::new();
    for vw in widths {
        let vh = ((u64::from(h) * u64::from(vw) + u64::from(w) / 2) / u64::from(w)).max(1) as u32;
        let resized = if vw == w {
            img.clone()
        } else {
            img.resize_exact(vw, vh, FilterType::CatmullRom)
        };
        let rgb = resized.to_rgb8();
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
            .encode_image(&rgb)
            .map_err(|e| err(e.to_string()))?;
        let webp = webp::Encoder::from_rgb(rgb.as_raw(), vw, vh)
            .encode(WEBP_QUALITY)
            .to_vec();
        let base = format!("photos/{slug}-{vw}-{tag}");
        let v = Variant {
            width: vw,
            height: vh,
            jpeg: format!("{base}.jpg"),
            webp: format!("{base}.webp"),
        };
        objects.push((v.jpeg.clone(), jpeg));
        objects.push((v.webp.clone(), webp));
        variants.push(v);
    }
    Ok((
        PhotoInfo {
            key: key.to_string(),
            md5,
            source: String::new(),
            width: w,
            height: h,
            variants,
        },
        objects,
    ))
}

/// A small JPEG of a given size, for tests and benchmarks.
pub fn sample_jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width.max(1)) as u8 ^ seed,
            (y * 255 / height.max(1)) as u8,
            seed.wrapping_mul(37),
        ])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&img)
        .expect("encoding a fresh image");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/` target `s3_key`): `photos/a/../../x.jpg` was classified
    /// as a photo to process and publish, where static files and front-matter photos
    /// already refused `..` and empty segments.
    #[test]
    fn photo_keys_with_dot_dot_or_empty_segments_are_not_photos() {
        use crate::site::layout::{classify, ContentChange};
        for key in [
            "photos/a/../../x.jpg",
            "photos/../site.jpg",
            "photos//a.jpg",
        ] {
            assert!(!is_photo_key(key), "{key}");
            assert_eq!(classify(key), ContentChange::Ignored, "{key}");
        }
        assert!(is_photo_key("photos/south bank/campus..jpg"));
        assert_eq!(
            classify("photos/a.b/c.JPG"),
            ContentChange::Photo {
                key: "photos/a.b/c.JPG".into()
            }
        );
    }

    #[test]
    fn makes_jpeg_and_webp_variants_no_wider_than_the_original() {
        let src = sample_jpeg(1200, 800, 7);
        let (info, objects) = make_variants("photos/South Bank campus.jpg", &src).unwrap();
        assert_eq!((info.width, info.height), (1200, 800));
        let widths: Vec<u32> = info.variants.iter().map(|v| v.width).collect();
        assert_eq!(widths, vec![480, 960, 1200]);
        assert_eq!(info.variants[0].height, 320);
        assert!(info.variants[0]
            .jpeg
            .starts_with("photos/south-bank-campus-480-"));
        assert_eq!(objects.len(), 6);
        for (k, bytes) in &objects {
            let fmt = image::guess_format(bytes).unwrap();
            if k.ends_with(".webp") {
                assert_eq!(fmt, image::ImageFormat::WebP);
            } else {
                assert_eq!(fmt, image::ImageFormat::Jpeg);
            }
        }
        assert_eq!(info.fallback(960).width, 960);
        // Same input, same output.
        let (again, objects2) = make_variants("photos/South Bank campus.jpg", &src).unwrap();
        assert_eq!(info, again);
        assert_eq!(objects, objects2);
    }

    #[test]
    fn rejects_what_is_not_an_image() {
        let e = make_variants("photos/x.jpg", b"not an image").unwrap_err();
        assert!(e.to_string().starts_with("photos/x.jpg: "), "{e}");
    }
}
