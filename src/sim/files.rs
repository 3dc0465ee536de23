//! The file store (`files/`): small blobs a user uploads and reads back, each also readable
//! without credentials through its unguessable key (Juju shares its state file that way).
//! Files belong to their uploader; uploading a name again replaces the content.

use super::state::Region;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub filename: String,
    pub owner: String,
    /// What `?op=get_by_key&key=` takes: a UUID, as MAAS's `FileStorage.key`.
    pub key: String,
    pub content: Vec<u8>,
}

impl Region {
    /// The caller's files, by name, those starting with `prefix` when given.
    pub fn files_of<'a>(&'a self, owner: &'a str, prefix: Option<&'a str>) -> Vec<&'a StoredFile> {
        let mut out: Vec<&StoredFile> = self
            .files
            .iter()
            .filter(|f| f.owner == owner && prefix.is_none_or(|p| f.filename.starts_with(p)))
            .collect();
        out.sort_by(|a, b| a.filename.cmp(&b.filename));
        out
    }

    pub fn file(&self, owner: &str, filename: &str) -> Option<&StoredFile> {
        self.files
            .iter()
            .find(|f| f.owner == owner && f.filename == filename)
    }

    /// MAAS's `FileStorage.objects.save_file`: same owner and name → new content, same key.
    pub fn save_file(&mut self, owner: &str, filename: &str, content: Vec<u8>) {
        if let Some(f) = self
            .files
            .iter_mut()
            .find(|f| f.owner == owner && f.filename == filename)
        {
            f.content = content;
            return;
        }
        let serial = self.fresh_id();
        let key = super::render::uuid_from(&format!("file/{serial}/{owner}/{filename}"));
        self.files.push(StoredFile {
            filename: filename.to_string(),
            owner: owner.to_string(),
            key,
            content,
        });
    }

    /// True when the file existed.
    pub fn delete_file(&mut self, owner: &str, filename: &str) -> bool {
        let before = self.files.len();
        self.files
            .retain(|f| !(f.owner == owner && f.filename == filename));
        self.files.len() != before
    }
}
