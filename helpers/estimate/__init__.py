"""Stage 1, chapter 01 (memory estimation): the meta-device parameter census (`census`), visual tokens
from image size (`vision_tokens`), the peak-memory estimate (`memory`), placement on GPU profiles with
accelerate's planner (`placement`), the measured check of the estimate (`memory_check`) and the
`qwen3vl memory` command (`cli`)."""
