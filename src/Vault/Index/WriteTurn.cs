namespace Detach.Vault.Index;

/// <summary>
/// A writer's turn at an index whose engine lets one writer in at a time (SQLite): held from before the connection
/// opens until the write is over. <c>default</c> is no turn at all (engines that lock rows, not the database).
/// </summary>
internal readonly struct WriteTurn(SemaphoreSlim? gate) : IDisposable
{
    public void Dispose() => gate?.Release();
}
