from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from digest.context import Context
from digest.store.secrets import generated_key


def test_the_generated_key_is_made_once_and_found_by_every_later_caller(ctx: Context) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: generated_key(ctx.engine), range(8)))
    keys = {key for key, _ in results}
    assert len(keys) == 1 and len(keys.pop()) >= 43  # 32 random bytes, base64
    assert sum(created for _, created in results) == 1
    assert generated_key(ctx.engine) == (results[0][0], False)
