#include <stdio.h>
int main(void)
{
    puts("cfctl");
    return 0;
}
