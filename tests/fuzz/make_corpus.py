#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_pool (tests/fuzz/corpus/): one small
program per path, in fuzz_pool.cc's encoding (an opcode byte, then its
argument bytes). Run it again after changing the encoding:
    python3 tests/fuzz/make_corpus.py
"""
import os

# Opcodes and their argument bytes, as in fuzz_pool.cc's enum Op.
CREATE, DESTROY, ALLOC_PAGES, ALLOC_BURST, ALLOC_FRAG, ALLOC, ALLOC_VA, PUT, PUT_BULK, \
    PUT_BURST, GET_PAGE, RELEASE_PAGE, PP_REF_COUNT_INC, PP_REF_COUNT_SET, PP_REF_COUNT_SUB, \
    SYNC_FOR_CPU, RECREATE, FRAME, FRAME_FLUSH, HAND_OVER, ALLOC_BULK = range(21)
# FRAME's mode byte: 0 return_frame, 1 return_frame_rx_napi, 2 FrameBulk
# (0x10: on the helper thread).
RETURN_FRAME, RX_NAPI, FRAME_BULK = range(3)
# Put methods (low nibble of the "how" byte); 0x10: on the helper thread,
# 0x20: allow_direct.
RECYCLE_DIRECT, PUT_PAGE, PUT_FULL_PAGE, GENERIC_PUT, PAGE_REF, FREE_VA = range(6)
HELPER, DIRECT = 0x10, 0x20
SLOT_SYNC, SLOT_ORDER, SLOT_PLAIN = 0, 1, 2
# CREATE/RECREATE variant bits: 0x40 on SLOT_ORDER syncs on put; on
# SLOT_PLAIN maps and asks for syncs on a coherent device (none may come).
VARIANT_SYNC = 0x40


def burst(slot, n):  # allocates n pages (1..64)
    return [ALLOC_BURST, slot, n - 1]


def put_burst(n, how):  # puts the newest n items
    return [PUT_BURST, n, how]


def alloc_bulk(slot, n):  # alloc_pages_bulk of n pages (1..100)
    return [ALLOC_BULK, slot, n - 1]


def put_bulk(count, start=0, helper=False, stride=1):  # put_page_bulk of up to count items
    return [PUT_BULK, count - 1, start, (stride - 1) << 1 | (1 if helper else 0)]


INPUTS = {
    "alloc_recycle_direct": burst(SLOT_SYNC, 10) + put_burst(10, RECYCLE_DIRECT)
    + burst(SLOT_PLAIN, 10) + put_burst(10, RECYCLE_DIRECT) + burst(SLOT_PLAIN, 10),
    "ring_from_helper": burst(SLOT_PLAIN, 40) + put_burst(40, PUT_FULL_PAGE | HELPER | DIRECT)
    + burst(SLOT_PLAIN, 64) + burst(SLOT_PLAIN, 10) + put_burst(80, PUT_PAGE | DIRECT),
    "cache_full": burst(SLOT_PLAIN, 64) + burst(SLOT_PLAIN, 64) + burst(SLOT_PLAIN, 64)
    + put_burst(192, RECYCLE_DIRECT),
    "ring_full": [RECREATE, SLOT_PLAIN, 0] + burst(SLOT_PLAIN, 20)
    + put_burst(20, PUT_FULL_PAGE | HELPER) + burst(SLOT_PLAIN, 5),
    "fragments": [ALLOC_FRAG, SLOT_SYNC, 2, ALLOC_FRAG, SLOT_SYNC, 2, ALLOC_FRAG, SLOT_SYNC, 3,
                  ALLOC, SLOT_SYNC, 4, ALLOC, SLOT_SYNC, 4, ALLOC, SLOT_SYNC, 5,
                  ALLOC_VA, SLOT_ORDER, 3, ALLOC_VA, SLOT_ORDER, 3, ALLOC_VA, SLOT_ORDER, 7,
                  PUT, 0, RECYCLE_DIRECT, 0, PUT, 1, FREE_VA | DIRECT, 9,
                  PUT, 2, GENERIC_PUT | HELPER, 0, PUT, 0, FREE_VA | HELPER, 200,
                  ALLOC_FRAG, SLOT_SYNC, 0, ALLOC_FRAG, SLOT_SYNC, 0xff]
    + put_burst(20, PUT_PAGE | DIRECT),
    "bulk_mixed_pools": burst(SLOT_SYNC, 20) + burst(SLOT_ORDER, 5) + burst(SLOT_PLAIN, 20)
    + [ALLOC_FRAG, SLOT_PLAIN, 1, ALLOC_FRAG, SLOT_PLAIN, 1, ALLOC_FRAG, SLOT_ORDER, 4,
       PUT_BULK, 30, 0, 0x03, PUT_BULK, 99, 3, 0x00],
    "generic_put_and_pageref": burst(SLOT_SYNC, 6)
    + [GET_PAGE, 0, GET_PAGE, 1, PUT, 0, GENERIC_PUT, 0, PUT, 1, PAGE_REF | HELPER, 0,
       PUT, 0, GENERIC_PUT | HELPER, 0, PUT, 1, PAGE_REF, 0, PUT, 2, PAGE_REF | HELPER, 0]
    + put_burst(6, GENERIC_PUT),
    "release_page": burst(SLOT_ORDER, 3)
    + [GET_PAGE, 0, RELEASE_PAGE, 0, 0, RELEASE_PAGE, 1, 1, PUT, 0, GENERIC_PUT, 0,
       PUT, 0, PAGE_REF | HELPER, 0, PUT, 0, GENERIC_PUT | HELPER, 0, PUT, 0, RECYCLE_DIRECT, 0],
    "shared_page_puts": burst(SLOT_SYNC, 4)
    + [GET_PAGE, 0, GET_PAGE, 1, GET_PAGE, 1, PUT, 0, RECYCLE_DIRECT, 0,
       PUT, 1, PUT_PAGE | HELPER, 7, PUT_BULK, 4, 0, 0x01] + put_burst(8, GENERIC_PUT),
    "destroy_with_pages_held": burst(SLOT_SYNC, 8) + [ALLOC_FRAG, SLOT_SYNC, 2]
    + burst(SLOT_ORDER, 2) + [GET_PAGE, 1, DESTROY, SLOT_SYNC, DESTROY, SLOT_ORDER]
    + [PUT, 0, PUT_FULL_PAGE, 0, PUT, 1, GENERIC_PUT | HELPER, 0, PUT_BULK, 3, 2, 0x01]
    + [CREATE, SLOT_SYNC, 9] + burst(SLOT_SYNC, 3) + put_burst(20, PUT_PAGE | HELPER | DIRECT),
    "driver_fragments": burst(SLOT_PLAIN, 3)
    + [PP_REF_COUNT_SET, 0, 4, PP_REF_COUNT_SUB, 0, 1, PP_REF_COUNT_INC, 1, PP_REF_COUNT_INC, 2,
       PUT, 1, PUT_PAGE, 0, PUT, 0, FREE_VA | HELPER, 5, PP_REF_COUNT_SUB, 0, 0,
       PP_REF_COUNT_INC, 0]
    + [ALLOC_FRAG, SLOT_PLAIN, 0, PP_REF_COUNT_INC, 3, PUT, 3, GENERIC_PUT, 0]
    + put_burst(20, PUT_FULL_PAGE | DIRECT),
    "sync_sizes": [RECREATE, SLOT_SYNC, 4] + burst(SLOT_SYNC, 4)
    + [SYNC_FOR_CPU, 0, 3, 200, SYNC_FOR_CPU, 1, 60, 9,
       PUT, 0, PUT_PAGE | DIRECT, 1, PUT, 0, PUT_PAGE, 2, PUT, 0, PUT_PAGE | HELPER, 3,
       PUT, 0, PUT_PAGE | DIRECT, 16],
    "recreate_cycle": [RECREATE, SLOT_ORDER, 0x45] + burst(SLOT_ORDER, 3)
    + [RECREATE, SLOT_ORDER, 0x02] + burst(SLOT_ORDER, 2) + [RECREATE, SLOT_PLAIN, 2]
    + burst(SLOT_PLAIN, 30) + [RECREATE, SLOT_PLAIN, 1]
    + put_burst(35, PUT_FULL_PAGE | HELPER) + [DESTROY, SLOT_PLAIN],
    "xdp_frames": burst(SLOT_SYNC, 20) + burst(SLOT_ORDER, 2) + [ALLOC, SLOT_PLAIN, 4]
    + [FRAME, 0, RETURN_FRAME, 60, FRAME, 1, RX_NAPI, 10, FRAME, 2, RX_NAPI | HELPER, 0,
       FRAME, 3, RETURN_FRAME | HELPER, 200, GET_PAGE, 4, FRAME, 4, RETURN_FRAME, 1,
       FRAME, 4, RETURN_FRAME, 1]
    + [FRAME, 5, FRAME_BULK, 9] * 18 + [FRAME_FLUSH] + [FRAME, 0, FRAME_BULK, 9] * 3
    + [DESTROY, SLOT_ORDER],
    # HAND_OVER slot, n (allocations on the helper), m (its direct recycles).
    "hand_over": burst(SLOT_SYNC, 5) + [HAND_OVER, SLOT_SYNC, 6, 9, ALLOC_FRAG, SLOT_SYNC, 3]
    + [HAND_OVER, SLOT_PLAIN, 15, 3, HAND_OVER, SLOT_ORDER, 4, 2] + burst(SLOT_PLAIN, 3)
    + put_burst(8, RECYCLE_DIRECT) + [HAND_OVER, SLOT_PLAIN, 0, 15],
    # The page of a queued fragment frame is still cut for other fragments.
    "fragment_in_framebulk": [ALLOC_FRAG, SLOT_SYNC, 2, FRAME, 0, FRAME_BULK, 0,
                              ALLOC_VA, SLOT_SYNC, 2, ALLOC_FRAG, SLOT_SYNC, 2, FRAME, 1, FRAME_BULK, 0,
                              FRAME_FLUSH, DESTROY, SLOT_SYNC] + put_burst(5, GENERIC_PUT),
    # put_page_bulk on the owner of pools that sync on put: every page synced.
    "bulk_sync_owner": alloc_bulk(SLOT_SYNC, 12) + put_bulk(12)
    + [RECREATE, SLOT_ORDER, VARIANT_SYNC] + alloc_bulk(SLOT_ORDER, 5) + alloc_bulk(SLOT_SYNC, 5)
    + put_bulk(10, 1, stride=2) + alloc_bulk(SLOT_SYNC, 70) + put_bulk(70, helper=True),
    # The coherent device: mapped, asked for syncs, never synced.
    "coherent_device": [RECREATE, SLOT_PLAIN, VARIANT_SYNC | 2] + alloc_bulk(SLOT_PLAIN, 20)
    + put_burst(5, PUT_PAGE) + put_burst(5, PUT_FULL_PAGE | HELPER) + put_bulk(10)
    + [ALLOC_FRAG, SLOT_PLAIN, 3, ALLOC_FRAG, SLOT_PLAIN, 3, PUT, 0, FREE_VA, 0, PUT, 0, PAGE_REF, 0],
    # Frames of three pools, one FrameBulk: put_page_bulk of mixed pools.
    "frames_mixed_bulk": alloc_bulk(SLOT_SYNC, 6) + alloc_bulk(SLOT_ORDER, 3) + alloc_bulk(SLOT_PLAIN, 6)
    + [FRAME, 0, FRAME_BULK, 9, FRAME, 3, FRAME_BULK, 9, FRAME, 7, FRAME_BULK, 9] * 3
    + [FRAME_FLUSH] + [FRAME, 0, RETURN_FRAME, 60, FRAME, 0, RX_NAPI | HELPER, 6],
    # Pools destroyed with pages out stay in the registry until the last comes back.
    "registry_pending": alloc_bulk(SLOT_SYNC, 4) + alloc_bulk(SLOT_PLAIN, 3)
    + [DESTROY, SLOT_SYNC, PUT, 0, PUT_FULL_PAGE, 0, DESTROY, SLOT_PLAIN, CREATE, SLOT_SYNC, 3]
    + alloc_bulk(SLOT_SYNC, 2) + [PUT, 1, GENERIC_PUT | HELPER, 0] + put_bulk(7, helper=True),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, program in INPUTS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes(b & 0xff for b in program))
    print(f"{len(INPUTS)} inputs in {out}")


if __name__ == "__main__":
    main()
