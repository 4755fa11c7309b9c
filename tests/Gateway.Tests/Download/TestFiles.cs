using System.Security.Cryptography;

namespace Detach.Gateway.Tests.Download;

/// <summary>Random test content and scratch folders.</summary>
public static class TestFiles
{
    public static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static string Sha256OfFile(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }

    public static DirectoryInfo Scratch(GatewayTestHost host, string name) =>
        Directory.CreateDirectory(Path.Combine(host.Folder.FullName, "client-" + name));
}
