using System.Text.Json;

namespace Detach.Gateway.Fetch;

/// <summary>
/// An unfinished download kept in the target's folder so that <c>--continue</c> can pick it up: the bytes so far in
/// <c>detach-{cid}.part</c>, and beside them (<c>.part.json</c>) the validator they came under (the ETag), the
/// whole length and the offered name. Named after the CID rather than the file, so a resume finds it before the
/// server has said anything. The data file is locked while written (a second fetch of the same link into the same
/// folder fails instead of interleaving) and renamed into place only when complete: a target never holds half a file.
/// </summary>
public sealed class PartialDownload
{
    public PartialDownload(string folder, string cid)
    {
        Folder = folder;
        DataPath = Path.Combine(folder, $"detach-{cid}.part");
        _statePath = DataPath + ".json";
    }

    private readonly string _statePath;

    public string Folder { get; }

    public string DataPath { get; }

    /// <summary>What the server said when the kept bytes started: enough to ask for the rest safely.</summary>
    public sealed record State(string? ETag, long Length, string Name);

    /// <summary>The part an earlier run kept, if it can be resumed (it has bytes and a strong validator).</summary>
    public (State State, long Have)? FindResumable()
    {
        try
        {
            if (!File.Exists(DataPath) || !File.Exists(_statePath))
            {
                return null;
            }

            var state = JsonSerializer.Deserialize<State>(File.ReadAllText(_statePath));
            var have = new FileInfo(DataPath).Length;
            return state is { ETag: ['"', .., '"'] } && have > 0 && have <= state.Length ? (state, have) : null;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Opens the part for writing, emptied (<paramref name="append"/> false) or positioned at its end. The state is
    /// written first, so a process killed at any point leaves a part that either has its state or is not resumed;
    /// the lock is taken before anything is truncated, so a concurrent fetch of the same link never loses bytes.
    /// </summary>
    public FileStream Begin(State state, bool append)
    {
        ArgumentNullException.ThrowIfNull(state);
        File.WriteAllText(_statePath, JsonSerializer.Serialize(state));
        FileStream stream;
        try
        {
            stream = new FileStream(DataPath, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None, bufferSize: 0, FileOptions.None);
        }
        catch (IOException e) when (File.Exists(DataPath))
        {
            throw new FetchFailedException(Cli.ExitCodes.CannotCreate, $"{DataPath} is in use (another detach fetch of this link?): {e.Message}");
        }

        try
        {
            if (append)
            {
                stream.Seek(0, SeekOrigin.End);
            }
            else
            {
                stream.SetLength(0);
            }

            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Moves the finished part to <paramref name="target"/> (replacing it), or, without one, to the offered name in
    /// the folder, numbered "name (1).ext" rather than replacing a file that is there already. Returns the path.
    /// </summary>
    public string Complete(string? target, string offeredName)
    {
        string saved;
        if (target is not null)
        {
            File.Move(DataPath, target, overwrite: true);
            saved = target;
        }
        else
        {
            saved = MoveToFreeName(offeredName);
        }

        File.Delete(_statePath);
        return saved;
    }

    /// <summary>Removes what was kept: the file can never be completed (it is gone from the server).</summary>
    public void Discard()
    {
        File.Delete(DataPath);
        File.Delete(_statePath);
    }

    private string MoveToFreeName(string name)
    {
        var stem = Path.GetFileNameWithoutExtension(name);
        var extension = Path.GetExtension(name);
        for (var i = 0; ; i++)
        {
            var candidate = Path.Combine(Folder, i == 0 ? name : $"{stem} ({i}){extension}");
            try
            {
                // Without overwrite the move fails if the name was taken meanwhile: no check-then-replace race.
                File.Move(DataPath, candidate, overwrite: false);
                return candidate;
            }
            catch (IOException) when (i < 1000 && Path.Exists(candidate))
            {
            }
        }
    }
}
