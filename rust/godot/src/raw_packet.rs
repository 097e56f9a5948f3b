//! The raw-pointer side of Godot's packet virtuals (`_get_packet`/`_put_packet`), in one place.

use godot::meta::conv::RawPtr;

/// Hands `data` to Godot as the packet `get_packet` returns.
///
/// # Safety
/// The out-pointers must be the ones Godot passed, and `data` must stay unchanged until the
/// next `get_packet`, as Godot reads it until then.
pub unsafe fn hand_out(
    r_buffer: RawPtr<*mut RawPtr<*const u8>>,
    r_buffer_size: RawPtr<*mut i32>,
    data: &[u8],
) {
    // SAFETY: the caller guarantees valid out-pointers.
    unsafe {
        *r_buffer.ptr() = RawPtr::new(data.as_ptr());
        *r_buffer_size.ptr() = data.len() as i32;
    }
}

/// The bytes Godot passed to `put_packet`.
///
/// # Safety
/// `p_buffer` and `p_buffer_size` must be the ones Godot passed for this call; the slice is used
/// only during it.
pub unsafe fn taken_in<'a>(p_buffer: RawPtr<*const u8>, p_buffer_size: i32) -> &'a [u8] {
    let len = usize::try_from(p_buffer_size).unwrap_or(0);
    if len == 0 || p_buffer.ptr().is_null() {
        return &[];
    }
    // SAFETY: Godot guarantees `p_buffer_size` readable bytes at `p_buffer`.
    unsafe { std::slice::from_raw_parts(p_buffer.ptr(), len) }
}
