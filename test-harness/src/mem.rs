//! Reading and writing the guest's memory, and handing it host-owned bytes.

use crate::state::HostState;
use wasmtime::{bail, Caller, Extern, Memory, Result};

fn memory(caller: &mut Caller<'_, HostState>) -> Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => bail!("the module exports no memory"),
    }
}

pub fn read(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> Result<Vec<u8>> {
    let m = memory(caller)?;
    let mut buf = vec![0u8; len as u32 as usize];
    m.read(&*caller, ptr as u32 as usize, &mut buf)?;
    Ok(buf)
}

pub fn read_string(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> Result<String> {
    Ok(String::from_utf8_lossy(&read(caller, ptr, len)?).into_owned())
}

pub fn write(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> Result<()> {
    let m = memory(caller)?;
    m.write(&mut *caller, ptr as u32 as usize, bytes)?;
    Ok(())
}

pub fn write_u32(caller: &mut Caller<'_, HostState>, ptr: i32, v: u32) -> Result<()> {
    write(caller, ptr, &v.to_le_bytes())
}

/// Copies `bytes` into guest memory allocated by the guest's own allocator, and stores the
/// pointer and size at `ret_ptr` / `ret_size`, as proxy-wasm hosts do.
pub fn give(caller: &mut Caller<'_, HostState>, bytes: &[u8], ret_ptr: i32, ret_size: i32) -> Result<()> {
    let alloc = match caller.get_export("proxy_on_memory_allocate").or_else(|| caller.get_export("malloc")) {
        Some(Extern::Func(f)) => f.typed::<i32, i32>(&*caller)?,
        _ => bail!("the module exports no allocator"),
    };
    let ptr = if bytes.is_empty() { 0 } else { alloc.call(&mut *caller, bytes.len() as i32)? };
    if !bytes.is_empty() {
        write(caller, ptr, bytes)?;
    }
    write_u32(caller, ret_ptr, ptr as u32)?;
    write_u32(caller, ret_size, bytes.len() as u32)
}

/// The proxy-wasm header map wire format.
pub fn serialize_map(pairs: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

pub fn deserialize_map(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let word = |at: usize| -> Result<usize> {
        match bytes.get(at..at + 4) {
            Some(b) => Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
            None => bail!("header map truncated"),
        }
    };
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let n = word(0)?;
    let mut p = 4 + n * 8;
    let mut out = Vec::new();
    for i in 0..n {
        let (ks, vs) = (word(4 + i * 8)?, word(8 + i * 8)?);
        let Some(k) = bytes.get(p..p + ks) else { bail!("header map truncated") };
        p += ks + 1;
        let Some(v) = bytes.get(p..p + vs) else { bail!("header map truncated") };
        p += vs + 1;
        out.push((String::from_utf8_lossy(k).into_owned(), v.to_vec()));
    }
    Ok(out)
}
