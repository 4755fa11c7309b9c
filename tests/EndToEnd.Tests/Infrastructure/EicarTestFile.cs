using System.Text;

namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The standard EICAR anti-virus test file (eicar.org), which every scanner reports and which harms nothing.
/// It is put together here from two halves so that this repository never holds it whole: scanners that look at
/// the source tree find nothing, while the tests get the real 68 bytes.
/// </summary>
public static class EicarTestFile
{
    private const string Head = @"X5O!P%@AP[4\PZX54(P^)7CC)7}$";
    private const string Tail = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    /// <summary>The 68 bytes of the test file.</summary>
    public static byte[] Bytes => Encoding.ASCII.GetBytes(Head + Tail);

    /// <summary>
    /// A ClamAV body signature (.ndb: name, target type 0 = any file, offset * = anywhere, hex bytes) matching the
    /// test file: clamd loads it from a private database directory instead of the official databases, which
    /// cannot be downloaded here. clamd reports it as <see cref="SignatureName"/>.
    /// </summary>
    public static string NdbSignature => $"Detach.Test.EICAR:0:*:{Convert.ToHexStringLower(Bytes)}";

    /// <summary>What clamd calls a match of <see cref="NdbSignature"/> (it marks signatures outside its official databases).</summary>
    public const string SignatureName = "Detach.Test.EICAR.UNOFFICIAL";

    /// <summary>
    /// <paramref name="size"/> bytes that start with the test file and go on with harmless text, so the file is big
    /// enough for the detach policy (Policy:MinSizeBytes) to take it out of the mail.
    /// </summary>
    public static byte[] Padded(int size)
    {
        var bytes = new byte[Math.Max(size, Bytes.Length)];
        Bytes.CopyTo(bytes, 0);
        for (var i = Bytes.Length; i < bytes.Length; i++)
        {
            bytes[i] = i % 64 == 63 ? (byte)'\n' : (byte)'.';
        }

        return bytes;
    }
}
