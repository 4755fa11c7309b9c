using Detach.Mime;

namespace Detach.Mime.Tests;

public class SizeTextTests
{
    private static readonly SizeWords French = new(",", "octet", "octets", new HashSet<long> { 0, 1 }, "ko", "Mo", "Go", "To");

    [Theory]
    [InlineData(0, "0 bytes")]
    [InlineData(1, "1 byte")]
    [InlineData(999, "999 bytes")]
    [InlineData(1000, "1.0 kB")]
    [InlineData(9092, "9.1 kB")]
    [InlineData(99_949, "99.9 kB")]
    [InlineData(150_000, "150 kB")]
    [InlineData(999_499, "999 kB")]
    [InlineData(999_600, "1.0 MB")]
    [InlineData(3_157_728, "3.2 MB")]
    [InlineData(64L * 1024 * 1024, "67.1 MB")]
    [InlineData(5_000_000_000_000_000, "5000 TB")]
    [InlineData(-5, "0 bytes")]
    public void EnglishSizes(long bytes, string expected) => Assert.Equal(expected, SizeText.Format(bytes));

    [Theory]
    [InlineData(0, "0 octet")]
    [InlineData(1, "1 octet")]
    [InlineData(2, "2 octets")]
    [InlineData(9092, "9,1 ko")]
    [InlineData(3_157_728, "3,2 Mo")]
    public void FrenchSizes(long bytes, string expected) => Assert.Equal(expected, SizeText.Format(bytes, French));
}
