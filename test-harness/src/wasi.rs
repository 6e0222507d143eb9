//! The few WASI preview1 calls a Rust cdylib makes. The clock is the test's clock, so the
//! filter and jwt-simple see the same time; stdout/stderr go to the log.

use crate::mem::{read, write, write_u32};
use crate::state::HostState;
use wasmtime::{Caller, Linker, Result};

type C<'a> = Caller<'a, HostState>;
const WASI: &str = "wasi_snapshot_preview1";
const ESUCCESS: i32 = 0;
const EBADF: i32 = 8;

pub fn link(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(WASI, "clock_time_get", |mut c: C, _id: i32, _precision: i64, ret: i32| -> Result<i32> {
        crate::abi::note(&mut c, "wasi_clock", &[]);
        let now = c.data().clock.nanos();
        write(&mut c, ret, &now.to_le_bytes())?;
        Ok(ESUCCESS)
    })?;
    linker.func_wrap(WASI, "clock_res_get", |mut c: C, _id: i32, ret: i32| -> Result<i32> {
        write(&mut c, ret, &1u64.to_le_bytes())?;
        Ok(ESUCCESS)
    })?;
    linker.func_wrap(WASI, "random_get", |mut c: C, ptr: i32, len: i32| -> Result<i32> {
        crate::abi::note(&mut c, "wasi_random", &[&(len as u32).to_le_bytes()]);
        // Deterministic but varied bytes: tests need repeatability, not secrecy.
        let seed = c.data().clock.nanos() ^ 0x9e37_79b9_7f4a_7c15;
        let bytes: Vec<u8> = (0..len as u32 as u64)
            .map(|i| (seed.wrapping_mul(i + 1).wrapping_add(i * 0x2545_f491) >> 24) as u8)
            .collect();
        write(&mut c, ptr, &bytes)?;
        Ok(ESUCCESS)
    })?;
    linker.func_wrap(WASI, "fd_write", |mut c: C, fd: i32, iovs: i32, n: i32, ret: i32| -> Result<i32> {
        crate::abi::note(&mut c, "wasi_write", &[]);
        if fd != 1 && fd != 2 {
            return Ok(EBADF);
        }
        let mut total = 0u32;
        let mut text = Vec::new();
        for i in 0..n {
            let iov = read(&mut c, iovs + i * 8, 8)?;
            let ptr = u32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]) as i32;
            let len = u32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]) as i32;
            text.extend(read(&mut c, ptr, len)?);
            total += len as u32;
        }
        c.data_mut().logs.push((if fd == 2 { 4 } else { 2 }, String::from_utf8_lossy(&text).into_owned()));
        write_u32(&mut c, ret, total)?;
        Ok(ESUCCESS)
    })?;
    linker.func_wrap(WASI, "environ_sizes_get", |mut c: C, count: i32, size: i32| -> Result<i32> {
        write_u32(&mut c, count, 0)?;
        write_u32(&mut c, size, 0)?;
        Ok(ESUCCESS)
    })?;
    linker.func_wrap(WASI, "environ_get", |_c: C, _a: i32, _b: i32| -> Result<i32> { Ok(ESUCCESS) })?;
    linker.func_wrap(WASI, "args_sizes_get", |mut c: C, count: i32, size: i32| -> Result<i32> {
        write_u32(&mut c, count, 0)?;
        write_u32(&mut c, size, 0)?;
        Ok(ESUCCESS)
    })?;
    linker.func_wrap(WASI, "args_get", |_c: C, _a: i32, _b: i32| -> Result<i32> { Ok(ESUCCESS) })?;
    linker.func_wrap(WASI, "sched_yield", |_c: C| -> Result<i32> { Ok(ESUCCESS) })?;
    linker.func_wrap(WASI, "proc_exit", |_c: C, code: i32| -> Result<()> {
        wasmtime::bail!("proc_exit({code})")
    })?;
    Ok(())
}
