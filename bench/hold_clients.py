"""Holds N logged-in asyncpg connections open to a pooler until killed (bench/idle_memory.sh).

Prints "ready N" once all N are logged in; connections open 50 at a time, as an application's pool
would grow, so the pooler sees logins and not a thundering herd.
"""
import asyncio
import sys

import asyncpg


async def hold(port: int, count: int) -> None:
    connections = []
    opening = asyncio.Semaphore(50)

    async def open_one() -> None:
        async with opening:
            connection = await asyncpg.connect(
                host="127.0.0.1", port=port, user="bench", database="bench", ssl=False,
                statement_cache_size=0)
            # One query each, as a client of an application's pool has run: what a client
            # keeps after its first transaction is counted too.
            await connection.fetchval("SELECT 1")
            connections.append(connection)

    await asyncio.gather(*(open_one() for _ in range(count)))
    print("ready", len(connections), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(hold(int(sys.argv[1]), int(sys.argv[2])))
