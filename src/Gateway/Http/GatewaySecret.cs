using System.Security.Cryptography;
using Detach.Gateway.Configuration;

namespace Detach.Gateway.Http;

/// <summary>
/// The server's own 256-bit secret that seals download tokens, kept in {DataPath}/gateway.secret (mode
/// 0600) so tokens survive a restart. Read, or made, once at start (UseDownloadGateway), so that serving
/// downloads never needs to write: with the data folder full, links keep working. A start that can neither
/// read nor make it stops with a configuration error naming the file. Losing the file only logs every browser
/// out of its pending downloads; it never exposes a file.
/// </summary>
public sealed class GatewaySecret
{
    public const string FileName = "gateway.secret";
    public const int Length = 32;

    private readonly byte[] _key;

    public GatewaySecret(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length != Length)
        {
            throw new ArgumentException($"The gateway secret must be {Length} bytes.", nameof(key));
        }

        this._key = key;
    }

    public ReadOnlySpan<byte> Key => _key;

    public static GatewaySecret LoadOrCreate(string dataPath)
    {
        var path = Path.Combine(dataPath, FileName);
        try
        {
            Directory.CreateDirectory(dataPath);
            return ReadOrMake(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new ConfigurationException(
                $"The gateway's token secret {path} can be neither read nor made: {e.Message} It is made at start in DataPath, "
                + "which must then be writable; a damaged one may be deleted (pending browser downloads will have to reopen their link).");
        }
    }

    private static GatewaySecret ReadOrMake(string path)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            if (File.Exists(path))
            {
                return Read(path);
            }

            // Write a temporary file with 0600 from its creation, then move it in place without
            // overwriting: two processes starting at once end up sharing whichever secret landed first.
            var temporary = path + "." + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)) + ".tmp";
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                using (var file = new FileStream(temporary, options))
                {
                    file.Write(RandomNumberGenerator.GetBytes(Length));
                    file.Flush(flushToDisk: true);
                }

                File.Move(temporary, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process won the race; read its secret on the next turn.
            }
            finally
            {
                File.Delete(temporary);
            }
        }

        return Read(path);
    }

    private static GatewaySecret Read(string path)
    {
        if (!OperatingSystem.IsWindows()
            && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length != Length)
        {
            throw new InvalidDataException($"{path} must hold exactly {Length} bytes; delete it to have a new one made (pending browser downloads will have to reopen their link).");
        }

        return new GatewaySecret(bytes);
    }
}
