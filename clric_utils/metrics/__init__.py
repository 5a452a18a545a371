"""Image quality metrics (PSNR, MS-SSIM, LPIPS, DISTS) with offline backbone weights."""
