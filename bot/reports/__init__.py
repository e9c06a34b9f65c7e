"""Reports for the federation's officers: the quarterly workbook and the weekly chart image."""
