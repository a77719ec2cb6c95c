"""Stage 2, chapters 02 and 03 (sharded loading, device maps, offload): strict loading with the loading
report (`loading`), device-map planning through `from_pretrained` (`device_maps`), checkpoint anatomy from
headers (`anatomy`), CPU/disk offload really run (`offload`), quantisation coverage and the precision
guide (`quantisation`), the live memory monitor (`monitor`) and the executed claims about loading
(`claims`)."""
