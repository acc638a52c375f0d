//! The dump spool: a restore first downloads the stored dump — still age-encrypted, so
//! encrypted at rest — into a private (0700) folder while hashing it, and decrypts from there
//! only once its bytes match the signed checksum. No byte reaches `pg_restore` unchecked.
//!
//! The folder is removed when the spool is dropped, so on every exit path.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::checksum::ChecksumHasher;
use crate::error::{Result, VaultError, io_err};
use crate::manifest::{StoredObject, random_hex};
use crate::pipeline::StreamReader;
use crate::store::Repository;

/// A private (0700) folder under a parent folder; removed with everything in it on drop.
#[derive(Debug)]
pub(crate) struct PrivateFolder {
    dir: PathBuf,
}

impl PrivateFolder {
    /// Creates `ward-spool-<random>` under `parent` (the system's temporary folder when
    /// `None`).
    pub(crate) fn create(parent: Option<&Path>) -> Result<PrivateFolder> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = parent.join(format!("ward-spool-{}", random_hex::<8>()?));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&dir)
            .map_err(io_err("creating the dump spool folder", &dir))?;
        Ok(PrivateFolder { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PrivateFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A verified copy of a stored dump in a private folder; removed on drop.
#[derive(Debug)]
pub(crate) struct DumpSpool {
    /// Held for its drop, which removes the spooled file.
    _folder: PrivateFolder,
    file: PathBuf,
}

impl DumpSpool {
    /// Downloads `object` (a record the signed statement vouches for) under `parent` (the
    /// system's temporary folder when `None`) and checks its size and stored checksum.
    pub(crate) async fn fetch(
        repo: &Repository,
        object: &StoredObject,
        parent: Option<&Path>,
    ) -> Result<DumpSpool> {
        let expected = object
            .stored_checksum
            .clone()
            .ok_or_else(|| VaultError::Corrupted {
                object: object.object.clone(),
                reason: "no signed checksum to check it against".into(),
            })?;
        // From here on, dropping the spool removes the folder.
        let folder = PrivateFolder::create(parent)?;
        let spool = DumpSpool {
            file: folder.path().join("dump.age"),
            _folder: folder,
        };
        let stream =
            repo.get_stream(&object.object)
                .await?
                .ok_or_else(|| VaultError::Corrupted {
                    object: object.object.clone(),
                    reason: "the dump object is missing".into(),
                })?;
        let mut reader = StreamReader::spawn(stream);
        let file = spool.file.clone();
        let name = object.object.clone();
        let expected_size = object.stored_size;
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut out = std::fs::OpenOptions::new();
            out.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                out.mode(0o600);
            }
            let mut out = out
                .open(&file)
                .map_err(io_err("writing the dump spool", &file))?;
            let mut hasher = ChecksumHasher::new(expected.algorithm());
            let mut buf = vec![0u8; 1 << 20];
            let mut size = 0u64;
            loop {
                let n = reader.read(&mut buf).map_err(|e| VaultError::Storage {
                    action: "read",
                    path: name.clone(),
                    message: e.to_string(),
                })?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .map_err(io_err("writing the dump spool", &file))?;
                size += n as u64;
            }
            out.sync_all()
                .map_err(io_err("writing the dump spool", &file))?;
            if size != expected_size || hasher.finish() != expected {
                return Err(VaultError::Corrupted {
                    object: name,
                    reason: "its stored bytes are not the ones the snapshot's signed statement names (size or checksum differs); nothing was restored from it".into(),
                });
            }
            Ok(())
        })
        .await
        .map_err(|e| VaultError::InvalidInput(format!("spool task: {e}")))??;
        Ok(spool)
    }

    /// The checked stored bytes, to decrypt.
    pub(crate) fn open(&self) -> Result<std::fs::File> {
        std::fs::File::open(&self.file).map_err(io_err("reading the dump spool", &self.file))
    }
}
