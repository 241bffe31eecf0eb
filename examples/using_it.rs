// examples/using_it.rs: the README's "Using it from Rust": the C API through
// bindings bindgen generated from <ppool.h> alone (PPOOL_BINDINGS names the
// file at compile time). Built and run by the tests.
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case, dead_code)]
include!(env!("PPOOL_BINDINGS"));

use std::ffi::CStr;
use std::ptr;

// A page handed to another thread: a raw pointer is not Send, its address is.
struct Page(*mut ppool_page);
unsafe impl Send for Page {}

fn main() {
    unsafe {
        let mut params = std::mem::zeroed::<ppool_pool_params>();
        ppool_pool_params_init(&mut params); // the C++ PagePoolParams' defaults
        params.flags = PPOOL_F_DMA_MAP | PPOOL_F_DMA_SYNC_DEV;
        params.dev = ppool_dma_identity(); // no IOMMU: DMA address = virtual address
        params.dma_dir = PPOOL_DMA_FROM_DEVICE;
        params.max_len = PPOOL_PAGE_SIZE as u32;
        params.pool_size = 256; // ring size
        params.name = b"eth0 rxq0\0".as_ptr().cast();
        let mut pool: *mut ppool_pool = ptr::null_mut();
        if ppool_pool_create(&params, &mut pool) < 0 {
            // A negative errno; the message names the bad field.
            eprintln!("{}", CStr::from_ptr(ppool_last_error()).to_string_lossy());
            std::process::exit(1);
        }

        // On the queue's thread (the kernel's NAPI context):
        let page = ppool_alloc_pages(pool); // null when memory runs out
        println!("page at {:p}, DMA address {:#x}", ppool_page_address(page),
                 ppool_get_dma_addr(page));
        ppool_recycle_direct(pool, page); // XDP_DROP: straight into the cache

        // From any thread: through the pool's ring.
        let (shared, away) = (pool as usize, Page(ppool_alloc_pages(pool)));
        std::thread::spawn(move || {
            let away = away;
            ppool_pool_put_full_page(shared as *mut ppool_pool, away.0, false);
        })
        .join()
        .unwrap();
        // On the owner's thread every put is napi-local: into the cache.
        let mut pages = [ptr::null_mut::<ppool_page>(); 8];
        if ppool_alloc_pages_bulk(pool, pages.as_mut_ptr(), 8) != 8 {
            std::process::exit(1); // fewer only when memory runs out
        }
        ppool_put_page_bulk(pages.as_mut_ptr(), 8); // many pages, of any pools
        ppool_put_page(ppool_alloc_pages(pool)); // code that knows no pools: the page goes home

        // Fragments: two 2 KiB packets per 4 KiB page; the page recycles after both.
        let (mut offset_a, mut size_a, mut offset_b, mut size_b) = (0u32, 2048u32, 0u32, 2048u32);
        let frag_a = ppool_alloc(pool, &mut offset_a, &mut size_a);
        let frag_b = ppool_alloc(pool, &mut offset_b, &mut size_b); // the same page, at 2048
        ppool_pool_put_full_page(pool, frag_a, true);
        ppool_pool_put_full_page(pool, frag_b, true);

        let mut stats = std::mem::zeroed::<ppool_pool_stats>();
        ppool_pool_get_stats(pool, &mut stats); // the kernel's counters, under its names
        println!("alloc_fast {}, recycle_ring {}", stats.alloc_fast, stats.recycle_ring);

        // Driver unload, on the owner thread:
        let inflight = ppool_pool_destroy(pool); // 0: every page came home
        println!("inflight {}, misuses {}", inflight, ppool_misuse_count());
        std::process::exit(if inflight == 0 && ppool_misuse_count() == 0 { 0 } else { 1 });
    }
}
