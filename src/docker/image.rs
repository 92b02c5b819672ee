//! Making sure the image is present: inspect, else pull with progress.

use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;

use super::{DockerError, Engine, is_not_found};

/// Whether the image was already there or had to be pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSource {
    Local,
    Pulled,
}

impl Engine {
    /// True when the engine has `image`.
    pub async fn has_image(&self, image: &str) -> Result<bool, DockerError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(source) => Err(DockerError::InspectImage {
                image: image.into(),
                source,
            }),
        }
    }

    /// Ensures `image` is present, pulling it when a registry is reachable.
    /// `on_status` receives the pull's status lines for a progress display.
    pub async fn ensure_image(
        &self,
        image: &str,
        mut on_status: impl FnMut(&str),
    ) -> Result<ImageSource, DockerError> {
        if self.has_image(image).await? {
            return Ok(ImageSource::Local);
        }
        let (name, tag) = split_tag(image);
        let options = CreateImageOptions {
            from_image: Some(name.to_string()),
            tag: Some(tag.to_string()),
            ..Default::default()
        };
        let mut pull = self.docker.create_image(Some(options), None, None);
        while let Some(event) = pull.next().await {
            let event = event.map_err(|source| DockerError::ImageMissing {
                image: image.into(),
                endpoint: self.endpoint.clone(),
                remote: !self.is_local(),
                source,
            })?;
            if let Some(status) = event.status {
                on_status(&status);
            }
        }
        Ok(ImageSource::Pulled)
    }
}

/// Splits `name:tag` (the tag defaults to `latest`; a registry port is not a tag).
fn split_tag(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::split_tag;

    #[test]
    fn splits_tags_but_not_registry_ports() {
        assert_eq!(split_tag("postgres:17"), ("postgres", "17"));
        assert_eq!(split_tag("postgres"), ("postgres", "latest"));
        assert_eq!(split_tag("reg:5000/pg"), ("reg:5000/pg", "latest"));
    }
}
