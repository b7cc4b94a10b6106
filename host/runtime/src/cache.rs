//! Compiled-module cache. Modules are addressed by the blake3 hash of their bytes. Each
//! deployed module leaves two files in the node's contract directory (opened through cap-std,
//! so the cache touches nothing outside it): `<hash>.wasm`, the module as deployed, and
//! `<hash>.cwasm`, the compiled artifact behind a checksummed header. At restart artifacts are
//! reloaded without recompiling; an in-memory LRU keeps recently used modules ready to
//! instantiate (`InstancePre`).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use cap_std::fs::Dir;
use wasmtime::{Engine, InstancePre, Linker, Module, ModuleExport};

use crate::error::RuntimeError;
use crate::host::StoreData;

/// The blake3 hash of a module's bytes: its address in the cache.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodeHash(pub [u8; 32]);

impl CodeHash {
    /// The hash of `wasm`.
    pub fn of(wasm: &[u8]) -> CodeHash {
        CodeHash(*blake3::hash(wasm).as_bytes())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`CodeHash::to_hex`].
    pub fn from_hex(text: &str) -> Option<CodeHash> {
        if text.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(CodeHash(out))
    }
}

impl fmt::Display for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeHash({})", self.to_hex())
    }
}

/// A module ready to instantiate.
pub(crate) struct LoadedContract {
    pub(crate) pre: InstancePre<StoreData>,
    pub(crate) init: ModuleExport,
    pub(crate) invoke: ModuleExport,
    pub(crate) memory: ModuleExport,
}

impl LoadedContract {
    pub(crate) fn new(
        linker: &Linker<StoreData>,
        module: &Module,
    ) -> Result<LoadedContract, RuntimeError> {
        let export = |name: &str| {
            module
                .get_export_index(name)
                .ok_or_else(|| RuntimeError::Engine(format!("validated module lacks `{name}`")))
        };
        Ok(LoadedContract {
            pre: linker.instantiate_pre(module).map_err(|e| RuntimeError::Engine(e.to_string()))?,
            init: export(weft_abi::export::INIT)?,
            invoke: export(weft_abi::export::INVOKE)?,
            memory: export(weft_abi::export::MEMORY)?,
        })
    }
}

const MAGIC: &[u8; 8] = b"WEFTCW02";
/// The magic, the fuel prices' version ([`crate::engine::FUEL_PRICES_VERSION`], which also
/// covers the pre-compile rewrite), and the artifact's blake3.
const HEADER: usize = MAGIC.len() + 4 + 32;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
    let context = context.into();
    move |source| RuntimeError::CacheIo { context, source }
}

/// The on-disk artifacts and the in-memory LRU of loaded modules.
pub(crate) struct ModuleCache {
    dir: Dir,
    loaded: RwLock<Lru>,
    /// Logical clock for recency; lookups only take the read lock and bump an atomic.
    clock: AtomicU64,
}

struct Lru {
    entries: HashMap<CodeHash, (Arc<LoadedContract>, AtomicU64)>,
    capacity: usize,
}

impl Lru {
    fn insert(&mut self, hash: CodeHash, contract: Arc<LoadedContract>, now: u64) {
        self.entries.insert(hash, (contract, AtomicU64::new(now)));
        while self.entries.len() > self.capacity.max(1) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| used.load(Ordering::Relaxed))
                .map(|(h, _)| *h);
            match oldest {
                Some(h) => self.entries.remove(&h),
                None => break,
            };
        }
    }
}

impl ModuleCache {
    /// Opens (creating it if needed) the contract directory `path`.
    pub(crate) fn open(
        path: &std::path::Path,
        capacity: usize,
    ) -> Result<ModuleCache, RuntimeError> {
        std::fs::create_dir_all(path).map_err(io(format!("creating {}", path.display())))?;
        let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority())
            .map_err(io(format!("opening {}", path.display())))?;
        Ok(ModuleCache {
            dir,
            loaded: RwLock::new(Lru { entries: HashMap::new(), capacity }),
            clock: AtomicU64::new(0),
        })
    }

    /// The loaded module, if it is in memory.
    pub(crate) fn get(&self, hash: &CodeHash) -> Option<Arc<LoadedContract>> {
        let lru = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        let (contract, used) = lru.entries.get(hash)?;
        used.store(self.clock.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        Some(contract.clone())
    }

    pub(crate) fn insert(&self, hash: CodeHash, contract: Arc<LoadedContract>) {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut lru = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        lru.insert(hash, contract, now);
    }

    /// Number of modules loaded in memory.
    pub(crate) fn loaded_len(&self) -> usize {
        self.loaded.read().unwrap_or_else(|e| e.into_inner()).entries.len()
    }

    /// Whether an artifact for `hash` is stored.
    pub(crate) fn is_stored(&self, hash: &CodeHash) -> bool {
        self.dir.exists(format!("{hash}.cwasm"))
    }

    /// Hashes of every stored artifact.
    pub(crate) fn stored(&self) -> Result<Vec<CodeHash>, RuntimeError> {
        let mut out = Vec::new();
        for entry in self.dir.entries().map_err(io("listing the contract directory"))? {
            let entry = entry.map_err(io("listing the contract directory"))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(hash) = name.strip_suffix(".cwasm").and_then(CodeHash::from_hex) {
                out.push(hash);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Stores the module and its artifact. Each file is written under a temporary name and
    /// renamed into place, so a crash leaves either the whole entry or an ignored temp file.
    pub(crate) fn store(
        &self,
        hash: &CodeHash,
        wasm: &[u8],
        artifact: &[u8],
    ) -> Result<(), RuntimeError> {
        let mut framed = Vec::with_capacity(HEADER + artifact.len());
        framed.extend_from_slice(MAGIC);
        framed.extend_from_slice(&crate::engine::FUEL_PRICES_VERSION.to_le_bytes());
        framed.extend_from_slice(blake3::hash(artifact).as_bytes());
        framed.extend_from_slice(artifact);
        for (ext, bytes) in [("wasm", wasm), ("cwasm", framed.as_slice())] {
            let tmp = format!("{hash}.{ext}.tmp");
            let name = format!("{hash}.{ext}");
            self.dir.write(&tmp, bytes).map_err(io(format!("writing {tmp}")))?;
            self.dir.rename(&tmp, &self.dir, &name).map_err(io(format!("renaming {tmp}")))?;
        }
        Ok(())
    }

    /// The deployed module bytes, if stored.
    pub(crate) fn wasm(&self, hash: &CodeHash) -> Result<Option<Vec<u8>>, RuntimeError> {
        match self.dir.read(format!("{hash}.wasm")) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(format!("reading {hash}.wasm"))(e)),
        }
    }

    /// Loads a stored artifact without compiling. `Ok(None)` if there is none; a checksum
    /// mismatch is [`RuntimeError::CorruptCache`]; an artifact built by another engine version or
    /// configuration is reported as `Err(Stale)` so the caller can recompile from the module.
    pub(crate) fn load_artifact(
        &self,
        engine: &Engine,
        hash: &CodeHash,
    ) -> Result<Option<Result<Module, String>>, RuntimeError> {
        let name = format!("{hash}.cwasm");
        let framed = match self.dir.read(&name) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(format!("reading {name}"))(e)),
        };
        let corrupt = |reason: &str| RuntimeError::CorruptCache {
            hash: hash.to_hex(),
            reason: reason.to_owned(),
        };
        if framed.len() < HEADER || &framed[..MAGIC.len()] != MAGIC {
            return Err(corrupt("bad header"));
        }
        // Compiled under other prices (or another rewrite): stale, compiled again. Wasmtime's
        // own check would not see a change of the rewrite alone.
        let version = &framed[MAGIC.len()..MAGIC.len() + 4];
        if version != crate::engine::FUEL_PRICES_VERSION.to_le_bytes() {
            return Ok(Some(Err("compiled under other fuel prices".to_owned())));
        }
        let artifact = &framed[HEADER..];
        if blake3::hash(artifact).as_bytes() != &framed[MAGIC.len() + 4..HEADER] {
            return Err(corrupt("checksum mismatch"));
        }
        // SAFETY: `Module::deserialize` trusts its input to be an artifact produced by
        // `Module::serialize`. These bytes were written by `store` from `Module::serialize`
        // into the node's own contract directory and match the blake3 checksum written beside
        // them, so they are exactly what this process (or an earlier run) produced. An
        // artifact from another engine version or configuration is refused by wasmtime's own
        // compatibility check, which we report as stale.
        let module = unsafe { Module::deserialize(engine, artifact) };
        Ok(Some(module.map_err(|e| e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_hash_hex_round_trips() {
        let h = CodeHash::of(b"module");
        assert_eq!(CodeHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(CodeHash::from_hex("zz"), None);
        assert_eq!(h.to_hex().len(), 64);
    }
}
