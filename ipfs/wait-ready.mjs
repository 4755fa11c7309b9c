// Waits until the node at argv[2] answers POST /api/v0/id, while pid argv[3] lives (at most 60 s).
// Exit 0 ready, 3 the node died, 4 timed out. Node's own fetch: no curl needed on the machine.
const [url, pid] = [process.argv[2], Number(process.argv[3])]
const deadline = Date.now() + 60_000
while (Date.now() < deadline) {
  try { process.kill(pid, 0) } catch { process.exit(3) }
  try {
    const response = await fetch(`${url}/api/v0/id`, { method: 'POST' })
    if (response.ok) process.exit(0)
  } catch {}
  await new Promise(resolve => setTimeout(resolve, 100))
}
process.exit(4)
